import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { FileLakeStorage, LakeObjectNotFound, openLake } from './lake-storage.ts';

describe('FileLakeStorage', () => {
  let dir: string;
  let lake: FileLakeStorage;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lake-'));
    lake = new FileLakeStorage(dir);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes, reads and replaces objects, leaving no temp file behind', async () => {
    await lake.put('bronze/t/dt=2026-01-01/p0-1-2.parquet', Buffer.from('v1'));
    await lake.put('bronze/t/dt=2026-01-01/p0-1-2.parquet', Buffer.from('v2'));
    expect((await lake.get('bronze/t/dt=2026-01-01/p0-1-2.parquet')).toString()).toBe('v2');
    expect(await readdir(path.join(dir, 'bronze/t/dt=2026-01-01'))).toEqual(['p0-1-2.parquet']);
  });

  it('lists by prefix in key order and after a given key', async () => {
    for (const k of ['m/a/p0/002.json', 'm/a/p0/001.json', 'm/a/p1/001.json', 'm/b/p0/001.json', 'other.txt']) {
      await lake.put(k, Buffer.from(k));
    }
    const keys = async (prefix: string, startAfter?: string) => {
      const out: string[] = [];
      for await (const o of lake.list(prefix, { startAfter })) out.push(o.key);
      return out;
    };
    expect(await keys('m/a/')).toEqual(['m/a/p0/001.json', 'm/a/p0/002.json', 'm/a/p1/001.json']);
    expect(await keys('m/a/p0/', 'm/a/p0/001.json')).toEqual(['m/a/p0/002.json']);
    expect(await keys('m/a/p')).toEqual(['m/a/p0/001.json', 'm/a/p0/002.json', 'm/a/p1/001.json']);
    expect(await keys('nothing/')).toEqual([]);
  });

  it('raises LakeObjectNotFound for a missing key and refuses keys that escape the root', async () => {
    await expect(lake.get('missing')).rejects.toBeInstanceOf(LakeObjectNotFound);
    await expect(lake.put('../escape', Buffer.from('x'))).rejects.toThrow(/invalid lake key/);
  });
});

describe('openLake', () => {
  it('chooses the implementation by URL', () => {
    const config = loadConfig({});
    expect(openLake(config, 'file:./lake').url).toMatch(/^file:\/.*\/lake$/);
    expect(openLake(config, 's3://lakehouse/prod').url).toBe('s3://lakehouse/prod/');
    expect(() => openLake(config, 's3://')).toThrow(/LAKE_URL/);
  });
});
