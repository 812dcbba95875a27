import { createHash, type Hash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromFsError } from './errors.ts';
import type { StagedObject } from './storage.ts';

const HEAD_BYTES = 64;
/**
 * Files up to this size are also kept in memory while they stream in, for `bytes()` (holding them until the
 * upload is checked costs less than reading them back: four file system calls) and hashed only when asked.
 */
const KEPT_BYTES = 1024 * 1024;

/**
 * What a staged file becomes once committed: the backend moves or uploads `tempPath` under `key`, and says
 * which (a copied file is removed afterwards; a moved one is gone already).
 */
export type CommitStaged = (tempPath: string, key: string) => Promise<'moved' | 'copied'>;

/** A write stream on a new file, once the file is open (so that a failure to create it loses no input). */
async function openWriteStream(file: string): Promise<WriteStream> {
  const out = createWriteStream(file, { flags: 'wx' });
  await once(out, 'ready');
  return out;
}

/**
 * A local folder of temporary files: uploads being received (staged) and, for the local folder, writes
 * about to be renamed into place. Every backend stages locally, since the API needs a path to probe the
 * image; a file a killed process left behind is removed by `sweep`.
 */
export class TempFolder {
  /** The folder is made once per process, not per file (and again when something removed it: see `create`). */
  private made: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  private ensureDir(): Promise<void> {
    this.made ??= mkdir(this.dir, { recursive: true }).then(
      () => undefined,
      (err) => {
        this.made = undefined;
        throw fromFsError(err, 'the temporary folder');
      },
    );
    return this.made;
  }

  /**
   * Creates a new file in the folder with `create(path)` (which must create it exclusively, and throw ENOENT
   * when the folder is missing). The folder is made on first use only; when it has gone since (an operator or a
   * test removed it), it is made again and `create` retried once.
   */
  async create<T>(create: (path: string) => Promise<T>): Promise<{ path: string; made: T }> {
    await this.ensureDir();
    const p = path.join(this.dir, `${Date.now()}-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      return { path: p, made: await create(p) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.made = undefined;
      await this.ensureDir();
      return { path: p, made: await create(p) };
    }
  }

  /**
   * Streams `source` into a new temporary file, counting it and keeping its first bytes, and its whole bytes
   * while it is small. Its SHA-256 is computed as it streams once it outgrows that, else when first asked for.
   */
  async stage(source: Readable, commitStaged: CommitStaged): Promise<StagedObject> {
    // Opened before a byte is read, so a missing folder can be made again without losing the stream.
    const { path: temp, made: out } = await this.create(openWriteStream).catch((err) => {
      source.destroy(); // as the pipeline below would on a failed write
      throw fromFsError(err, 'an upload');
    });
    let hash: Hash | undefined;
    let size = 0;
    const headChunks: Buffer[] = [];
    let headLen = 0;
    let kept: Buffer[] | undefined = [];
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (headLen < HEAD_BYTES) {
          headChunks.push(chunk.subarray(0, HEAD_BYTES - headLen));
          headLen += Math.min(chunk.length, HEAD_BYTES - headLen);
        }
        if (kept && size <= KEPT_BYTES) {
          kept.push(chunk);
        } else {
          if (kept) {
            hash = createHash('sha256');
            for (const c of kept) hash.update(c);
            kept = undefined;
          }
          hash!.update(chunk);
        }
        cb(null, chunk);
      },
    });
    try {
      await pipeline(source, tap, out);
    } catch (err) {
      await rm(temp, { force: true });
      throw fromFsError(err, 'an upload');
    }
    let sha256 = hash?.digest('hex');
    let whole: Buffer | undefined;
    let keptBytes: Buffer[] | undefined = kept;
    let gone = false;
    return {
      path: temp,
      size,
      get sha256() {
        if (sha256 === undefined) {
          const h = createHash('sha256');
          for (const c of whole ? [whole] : (keptBytes ?? [])) h.update(c);
          sha256 = h.digest('hex');
        }
        return sha256;
      },
      head: Buffer.concat(headChunks),
      bytes: async () => {
        whole ??= keptBytes ? Buffer.concat(keptBytes, size) : await readFile(temp);
        keptBytes = undefined;
        return whole;
      },
      commit: async (key) => {
        const done = await commitStaged(temp, key);
        gone = true;
        if (done === 'copied') await rm(temp, { force: true }).catch(() => {});
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
