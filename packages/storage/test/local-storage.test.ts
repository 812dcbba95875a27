import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidKeyError, LocalStorage, ObjectNotFoundError } from '../src/index.ts';

describe('LocalStorage', () => {
  let dir: string;
  let storage: LocalStorage;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bullpen-storage-'));
    storage = new LocalStorage(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses keys that could leave the folder or hide a file', async () => {
    for (const key of ['../x', 'a/../../x', '/abs', 'a//b', '.tmp/x', 'a/.hidden', '', 'a\\b', 'a/b c']) {
      await expect(storage.put(key, Buffer.from('x')), key).rejects.toBeInstanceOf(InvalidKeyError);
    }
  });

  it('puts atomically, reads, lists and deletes', async () => {
    await storage.put('uploads/abc/512.webp', Buffer.from('hello'));
    expect((await storage.get('uploads/abc/512.webp')).toString()).toBe('hello');
    expect(await storage.stat('uploads/abc/512.webp')).toMatchObject({ size: 5 });
    expect(await storage.list('uploads/abc')).toEqual(['uploads/abc/512.webp']);
    expect(readdirSync(path.join(dir, '.tmp'))).toEqual([]);
    await storage.deletePrefix('uploads/abc');
    await expect(storage.get('uploads/abc/512.webp')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await storage.stat('uploads/abc/512.webp')).toBeUndefined();
  });

  it('stages a stream with its size, hash and first bytes, then commits or discards it', async () => {
    const staged = await storage.stage(Readable.from([Buffer.from('abc'), Buffer.alloc(100, 1)]));
    expect(staged.size).toBe(103);
    expect(staged.head.subarray(0, 3).toString()).toBe('abc');
    expect(staged.head.length).toBe(64);
    expect(staged.sha256).toMatch(/^[0-9a-f]{64}$/);
    await staged.commit('uploads/u1/original');
    expect((await storage.get('uploads/u1/original')).length).toBe(103);

    const other = await storage.stage(Readable.from([Buffer.from('x')]));
    await other.discard();
    await other.discard();
    expect(readdirSync(path.join(dir, '.tmp'))).toEqual([]);
  });

  it('gives a staged upload its bytes whole: kept from the stream up to 1 MiB, read back from the file beyond', async () => {
    for (const size of [10, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024]) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 7) & 0xff;
      const chunks = Array.from({ length: Math.ceil(size / 65536) }, (_, i) =>
        data.subarray(i * 65536, (i + 1) * 65536),
      );
      const staged = await storage.stage(Readable.from(chunks));
      const sha256 = createHash('sha256').update(data).digest('hex');
      if (size % 2) expect(staged.sha256).toBe(sha256); // asked before the bytes, or after
      expect((await staged.bytes()).equals(data), `${size} bytes`).toBe(true);
      expect(staged.sha256).toBe(sha256);
      await staged.commit(`originals/s${size}`);
      expect((await storage.get(`originals/s${size}`)).equals(data)).toBe(true);
    }
    expect(readdirSync(path.join(dir, '.tmp'))).toEqual([]);
  });

  it('makes its temporary folder once, and again only when it was removed (no mkdir per upload)', async () => {
    const first = await storage.stage(Readable.from([Buffer.from('one')]));
    await first.commit('originals/a');
    // An operator (or a test) removes the temporary folder, and the folder of the originals, while it runs.
    rmSync(path.join(dir, '.tmp'), { recursive: true });
    rmSync(path.join(dir, 'originals'), { recursive: true });
    const second = await storage.stage(Readable.from([Buffer.from('two')]));
    await second.commit('originals/b');
    await storage.put('uploads/b/128.webp', Buffer.from('v1'));
    rmSync(path.join(dir, '.tmp'), { recursive: true });
    await storage.put('uploads/b/128.webp', Buffer.from('v2'));
    await storage.put('uploads/b/512.webp', Buffer.from('v3'));
    expect(await storage.list('originals')).toEqual(['originals/b']);
    expect((await storage.get('uploads/b/128.webp')).toString()).toBe('v2');
    expect(await storage.list('uploads/b')).toEqual(['uploads/b/128.webp', 'uploads/b/512.webp']);
    expect(readdirSync(path.join(dir, '.tmp'))).toEqual([]);
  });

  it('sweeps temporary files older than the given age', async () => {
    await storage.put('a/b', Buffer.from('x'));
    const old = path.join(dir, '.tmp', 'left-by-a-killed-process');
    writeFileSync(old, 'partial');
    utimesSync(old, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
    writeFileSync(path.join(dir, '.tmp', 'in-flight'), 'partial');
    expect(await storage.sweepTemp(3600_000)).toBe(1);
    expect(readdirSync(path.join(dir, '.tmp'))).toEqual(['in-flight']);
  });
});
