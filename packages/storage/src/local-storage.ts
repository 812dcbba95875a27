import type { Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fromFsError, ObjectNotFoundError } from './errors.ts';
import { TempFolder } from './staging.ts';
import { assertKey, type ObjectInfo, type OpenedObject, type StagedObject, type Storage } from './storage.ts';

const TEMP_DIR = '.tmp';

/**
 * A local folder shared by the API and every worker (a volume in compose). Writes go to `<root>/.tmp`
 * first and are renamed into place, so an object is never seen half-written; a process killed mid-write
 * leaves only a temporary file, which `sweepTemp` removes later.
 */
export class LocalStorage implements Storage {
  readonly root: string;
  private readonly temp: TempFolder;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.temp = new TempFolder(path.join(this.root, TEMP_DIR));
  }

  private pathOf(key: string): string {
    assertKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  /**
   * Renames a temporary file into place. The key's folder is made only when the rename finds it missing: once
   * per folder (an upload's variants share one; originals all live in one), not once per write.
   */
  private async moveInto(temp: string, key: string): Promise<void> {
    const target = this.pathOf(key);
    try {
      await rename(temp, target).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await mkdir(path.dirname(target), { recursive: true });
        await rename(temp, target);
      });
    } catch (err) {
      throw fromFsError(err, `"${key}"`);
    }
  }

  stage(source: Readable): Promise<StagedObject> {
    return this.temp.stage(source, (temp, key) => this.moveInto(temp, key).then(() => 'moved' as const));
  }

  async put(key: string, data: Buffer): Promise<void> {
    this.pathOf(key);
    let temp: string | undefined;
    try {
      temp = (await this.temp.create((p) => writeFile(p, data, { flag: 'wx' }))).path;
      await this.moveInto(temp, key);
    } catch (err) {
      if (temp) await rm(temp, { force: true });
      throw fromFsError(err, `"${key}"`);
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(key));
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key, { cause: err });
      throw err;
    }
  }

  async open(key: string): Promise<OpenedObject> {
    // The info comes from the open file itself: a rename that replaces the object meanwhile cannot pair
    // one version's ETag with another's bytes.
    const handle = await open(this.pathOf(key), 'r').catch((err) => {
      throw isMissing(err) ? new ObjectNotFoundError(key, { cause: err }) : err;
    });
    try {
      const s = await handle.stat();
      if (!s.isFile()) throw new ObjectNotFoundError(key);
      return { info: infoOf(key, s), stream: handle.createReadStream() };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async createReadStream(key: string): Promise<Readable> {
    return (await this.open(key)).stream;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? infoOf(key, s) : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.pathOf(prefix), { recursive: true, force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.pathOf(prefix);
    const out: string[] = [];
    const walk = async (d: string, rel: string) => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        if (e.isDirectory()) await walk(path.join(d, e.name), `${rel}/${e.name}`);
        else if (e.isFile()) out.push(`${rel}/${e.name}`);
      }
    };
    await walk(dir, prefix);
    return out.sort();
  }

  sweepTemp(olderThanMs: number): Promise<number> {
    return this.temp.sweep(olderThanMs);
  }
}

const isMissing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/** Every write is a rename of a new file, so inode, size and time together name one version. */
function infoOf(key: string, s: Stats): ObjectInfo {
  const etag = `"${s.ino.toString(16)}-${s.size.toString(16)}-${Math.round(s.mtimeMs * 1000).toString(16)}"`;
  return { key, size: s.size, mtimeMs: s.mtimeMs, etag };
}
