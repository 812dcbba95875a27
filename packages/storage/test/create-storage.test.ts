import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStorage, LocalStorage, parseStorageUrl } from '../src/index.ts';
import { S3Storage } from '../src/s3-storage.ts';

describe('storage from the config', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bullpen-create-storage-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads s3://bucket/prefix and file:///path', () => {
    expect(parseStorageUrl('s3://bullpen-uploads')).toEqual({ kind: 's3', bucket: 'bullpen-uploads', prefix: '' });
    expect(parseStorageUrl('s3://bullpen-uploads/')).toEqual({ kind: 's3', bucket: 'bullpen-uploads', prefix: '' });
    expect(parseStorageUrl('s3://my.bucket/env/prod/')).toEqual({
      kind: 's3',
      bucket: 'my.bucket',
      prefix: 'env/prod',
    });
    expect(parseStorageUrl('file:///data/storage')).toEqual({ kind: 'local', dir: '/data/storage' });
  });

  it('refuses URLs that carry credentials, a port, a query, an unsafe prefix or another scheme', () => {
    for (const url of [
      's3://AKIA:secret@bucket/p',
      's3://bucket:9000/p',
      's3://bucket/p?region=eu-west-1',
      's3://bucket/../p',
      's3://bucket/a//b',
      's3://bucket/.hidden',
      'file://host/data',
      'https://bucket.s3.amazonaws.com/p',
      '/data/storage',
      'bucket/prefix',
    ]) {
      expect(() => parseStorageUrl(url), url).toThrow(/STORAGE_URL|storage key/);
    }
  });

  it('makes a LocalStorage for STORAGE_DIR or a file URL, and an S3Storage staging under STORAGE_DIR for s3', async () => {
    const plain = await createStorage({ STORAGE_DIR: dir });
    expect(plain).toBeInstanceOf(LocalStorage);
    expect((plain as LocalStorage).root).toBe(dir);
    const other = path.join(dir, 'elsewhere');
    const byUrl = await createStorage({ STORAGE_DIR: dir, STORAGE_URL: `file://${other}` });
    expect((byUrl as LocalStorage).root).toBe(other);

    const s3 = await createStorage({
      STORAGE_DIR: dir,
      STORAGE_URL: 's3://bullpen-uploads/prod',
      STORAGE_S3_FORCE_PATH_STYLE: true,
    });
    expect(s3).toBeInstanceOf(S3Storage);
    expect(s3).toMatchObject({ bucket: 'bullpen-uploads', prefix: 'prod' });
    (s3 as S3Storage).close();
    await expect(createStorage({ STORAGE_DIR: dir, STORAGE_URL: 's3://Not_A_Bucket/x' })).rejects.toThrow(
      /bucket name/,
    );
  });
});
