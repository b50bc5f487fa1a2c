import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, REPO_ROOT } from '../../services/common/config.ts';
import { LakeObjectNotFound, LakeUnreachableError, openLake, verifyLake } from '../../services/common/lake-storage.ts';

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

/** Runs an entry point with `env` until it exits (at most 60 s). */
function runEntry(entry: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, entry)], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} still running after 60 s:\n${stdout}\n${stderr}`));
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the lake at start-up (issue 14: LAKE_URL=s3:// crashed with a stack trace, s3://no-such-bucket/ retried forever silently)', () => {
  const missing = `no-such-bucket-${Date.now().toString(36)}`;
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'lake-url-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });
  /** The batch's files in a scratch directory: a refused start must not touch anything anyway. */
  const batchEnv = () => ({ BATCH_STATE_DIR: path.join(scratch, 'state'), BATCH_GOLD_DB: path.join(scratch, 'gold.duckdb'), LOG_LEVEL: 'warn' });

  it('verifyLake: passes on the bucket, names a missing bucket (configuration), tells an unreachable endpoint apart (transient)', async () => {
    const ok = openLake(config, `s3://${config.s3.bucket}/`);
    await expect(verifyLake(ok, config)).resolves.toBeUndefined();
    ok.close();
    const none = openLake(config, `s3://${missing}/`);
    const refused = await verifyLake(none, config).catch((err: unknown) => err);
    none.close();
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toContain(`LAKE_URL s3://${missing}/: bucket "${missing}" does not exist at S3_ENDPOINT ${config.s3.endpoint} (create it, or fix LAKE_URL)`);
    // A port of this test stack's range where nothing listens.
    const deadEndpoint = { s3: { ...config.s3, endpoint: `http://127.0.0.1:${Number(new URL(config.s3.endpoint).port) + 98}` } };
    const down = openLake({ ...config, ...deadEndpoint }, `s3://${config.s3.bucket}/`);
    const unreachable = await verifyLake(down, deadEndpoint, { timeoutMs: 5_000 }).catch((err: unknown) => err);
    down.close();
    expect(unreachable).toBeInstanceOf(LakeUnreachableError);
    expect((unreachable as Error).message).toMatch(new RegExp(`^LAKE_URL s3://${config.s3.bucket}/: S3_ENDPOINT ${deadEndpoint.s3.endpoint} unreachable \\(ECONNREFUSED`));
  });

  it('refresh: a malformed URL and a missing bucket exit 2 with one clear line and no stack trace, nothing written', async () => {
    const malformed = await runEntry('services/batch/cli.ts', { ...batchEnv(), LAKE_URL: 's3://' });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('LAKE_URL: "s3://" names no bucket: expected file:<dir> or s3://<bucket>/<prefix>');
    expect(malformed.stderr + malformed.stdout).not.toMatch(/\n\s+at /);

    const noBucket = await runEntry('services/batch/cli.ts', { ...batchEnv(), LAKE_URL: `s3://${missing}/` });
    expect(noBucket.code).toBe(2);
    expect(noBucket.stderr).toContain(`bucket "${missing}" does not exist at S3_ENDPOINT`);
    expect(noBucket.stderr + noBucket.stdout).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(scratch, 'gold.duckdb'))).toBe(false);
  });

  it('bronze writer: a missing bucket ends the start with exit 2 and says why, instead of retrying forever', async () => {
    const res = await runEntry('services/bronze-writer/main.ts', { LAKE_URL: `s3://${missing}/`, BRONZE_CONSUMER_GROUP: `lake-url-it-${Date.now()}`, LOG_LEVEL: 'warn' });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`bronze-writer: Invalid configuration:\n  - LAKE_URL s3://${missing}/: bucket "${missing}" does not exist at S3_ENDPOINT`);
  });
});
