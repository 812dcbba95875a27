import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromFsError } from './errors.ts';
import type { StagedObject } from './storage.ts';

const HEAD_BYTES = 64;

/** What a staged file becomes once committed: the backend moves or uploads `tempPath` under `key`. */
export type CommitStaged = (tempPath: string, key: string, staged: { size: number; sha256: string }) => Promise<void>;

/**
 * A local folder of temporary files: uploads being received (staged) and, for the local folder, writes
 * about to be renamed into place. Every backend stages locally, since the API needs a path to probe the
 * image; a file a killed process left behind is removed by `sweep`.
 */
export class TempFolder {
  constructor(readonly dir: string) {}

  /** A fresh path in the folder (the folder is made when missing). */
  async newPath(): Promise<string> {
    await mkdir(this.dir, { recursive: true }).catch((err) => {
      throw fromFsError(err, 'the temporary folder');
    });
    return path.join(this.dir, `${Date.now()}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Streams `source` into a new temporary file, counting and hashing it and keeping its first bytes. */
  async stage(source: Readable, commitStaged: CommitStaged): Promise<StagedObject> {
    const temp = await this.newPath();
    const hash = createHash('sha256');
    let size = 0;
    const headChunks: Buffer[] = [];
    let headLen = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        hash.update(chunk);
        if (headLen < HEAD_BYTES) {
          headChunks.push(chunk.subarray(0, HEAD_BYTES - headLen));
          headLen += Math.min(chunk.length, HEAD_BYTES - headLen);
        }
        cb(null, chunk);
      },
    });
    const out = createWriteStream(temp, { flags: 'wx' });
    try {
      await pipeline(source, tap, out);
    } catch (err) {
      // A source that fails at once can fail before the file is even opened: the stream then opens and closes it
      // later. Removing it before that would leave it behind.
      if (!out.closed) await once(out, 'close').catch(() => {});
      await rm(temp, { force: true });
      throw fromFsError(err, 'an upload');
    }
    const sha256 = hash.digest('hex');
    let gone = false;
    return {
      path: temp,
      size,
      sha256,
      head: Buffer.concat(headChunks),
      commit: async (key) => {
        await commitStaged(temp, key, { size, sha256 });
        gone = true;
        // The local folder renamed the file away; an object store uploaded a copy of it.
        await rm(temp, { force: true }).catch(() => {});
      },
      discard: async () => {
        if (gone) return;
        gone = true;
        await rm(temp, { force: true }).catch(() => {});
      },
    };
  }

  /** Removes temporary files older than `olderThanMs`; returns how many. */
  async sweep(olderThanMs: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const name of names) {
      const p = path.join(this.dir, name);
      try {
        const s = await stat(p);
        if (s.mtimeMs < cutoff) {
          await rm(p, { force: true });
          removed++;
        }
      } catch {
        // Gone already (another process swept it, or it was committed).
      }
    }
    return removed;
  }
}
