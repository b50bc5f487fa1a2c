import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/common/config.ts';
import { LakeObjectNotFound, openLake } from '../../services/common/lake-storage.ts';

const config = loadConfig();

describe('S3LakeStorage on MinIO', () => {
  const prefix = `it-${Date.now()}`;
  const lake = openLake(config, `s3://${config.s3.bucket}/${prefix}`);
  afterAll(() => lake.close());

  it('puts, gets, lists incrementally and deletes', async () => {
    await lake.put('m/p0/002.json', Buffer.from('b'));
    await lake.put('m/p0/001.json', Buffer.from('a'));
    expect((await lake.get('m/p0/001.json')).toString()).toBe('a');
    expect(await lake.exists('m/p0/002.json')).toBe(true);
    expect(await lake.exists('m/p0/003.json')).toBe(false);
    const after: string[] = [];
    for await (const o of lake.list('m/p0/', { startAfter: 'm/p0/001.json' })) after.push(o.key);
    expect(after).toEqual(['m/p0/002.json']);
    await lake.delete('m/p0/001.json');
    await expect(lake.get('m/p0/001.json')).rejects.toBeInstanceOf(LakeObjectNotFound);
  });
});
