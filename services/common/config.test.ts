import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envExampleText, loadConfig, loadServiceConfig, REPO_ROOT, serviceVariables } from './config.ts';

describe('loadConfig', () => {
  it('applies the local-stack defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.postgres.port).toBe(5432);
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.lakeUrl).toBe('file:./lake');
    expect(config.postgres.cdc.user).toBe('cdc_reader');
  });

  it('parses lists, numbers and booleans', () => {
    const config = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', POSTGRES_PORT: '6543', S3_FORCE_PATH_STYLE: 'false' });
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(config.postgres.port).toBe(6543);
    expect(config.s3.forcePathStyle).toBe(false);
  });

  it('names every bad variable and the value it got', () => {
    let error: unknown;
    try {
      loadConfig({ POSTGRES_PORT: 'eighty', KAFKA_BROKERS: 'nohostport', LAKE_URL: 'ftp://x' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues).toHaveLength(3);
    expect(issues.find((i) => i.startsWith('POSTGRES_PORT:'))).toContain('(got "eighty")');
    expect(issues.find((i) => i.startsWith('KAFKA_BROKERS:'))).toContain('host:port');
    expect(issues.find((i) => i.startsWith('LAKE_URL:'))).toContain('s3://');
  });

  it('never echoes the value of a secret variable', () => {
    expect(() => loadConfig({ S3_BUCKET: 'ok-bucket', POSTGRES_PASSWORD: '   ' })).toThrowError(/POSTGRES_PASSWORD: .*\(value hidden\)/);
    try {
      loadConfig({ POSTGRES_PASSWORD: '   ' });
    } catch (err) {
      expect((err as Error).message).not.toContain('   "');
    }
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ POSTGRES_PORT: '' }).postgres.port).toBe(5432);
  });
});

describe('per-service configuration', () => {
  it('validates only what each service reads: a bad distance setting does not stop the CDC service', () => {
    const env = { DISTANCE_PROVIDER: 'routes', SLACK_RATE_PER_SECOND: 'fast' };
    const cdc = loadServiceConfig('cdc', env);
    expect(cdc.cdc.slotName).toBe('sport_cdc_slot');
    expect(Object.keys(cdc).sort()).toEqual(['cdc', 'kafka', 'logLevel', 'postgres']);
    expect(() => loadServiceConfig('distance-worker', env)).toThrowError(
      'GOOGLE_MAPS_API_KEY: required when DISTANCE_PROVIDER=routes (unset DISTANCE_PROVIDER for offline estimates)',
    );
    expect(() => loadServiceConfig('slack-notifier', env)).toThrowError('SLACK_RATE_PER_SECOND: Invalid input: expected number, received NaN (got "fast")');
    for (const service of ['bronze-writer', 'monitor', 'refresh', 'status'] as const) expect(() => loadServiceConfig(service, env)).not.toThrow();
  });

  it("gives each service only its own PostgreSQL roles", () => {
    expect(Object.keys(loadServiceConfig('distance-worker', {}).postgres).sort()).toEqual(['database', 'distance', 'host', 'port']);
    expect(Object.keys(loadServiceConfig('slack-notifier', {}).postgres).sort()).toEqual(['database', 'host', 'notifier', 'port']);
    expect(Object.keys(loadServiceConfig('cdc', {}).postgres).sort()).toEqual(['admin', 'cdc', 'database', 'host', 'port', 'publication']);
    expect(serviceVariables('bronze-writer')).not.toContain('POSTGRES_HOST');
  });

  it('derives the settings that depend on others, as the whole configuration does', () => {
    const env = { KAFKA_TOPIC_PREFIX: 'shop.v1', CDC_METRICS_PORT: '9999', BATCH_STATE_DIR: '/tmp/b' };
    expect(loadServiceConfig('monitor', env).bronze.topicPattern).toEqual(/^shop\.v1\./);
    expect(loadServiceConfig('monitor', env).monitor.cdcMetricsUrl).toBe('http://127.0.0.1:9999/metrics');
    expect(loadServiceConfig('monitor', { ...env, CDC_METRICS_PORT: '0' }).monitor.cdcMetricsUrl).toBeUndefined();
    expect(loadServiceConfig('refresh', env).batch).toMatchObject({ runLogFile: '/tmp/b/run_log.jsonl', reportDir: '/tmp/b/reports', silverDb: '/tmp/b/silver-state.duckdb' });
    expect(loadServiceConfig('bronze-writer', { BRONZE_MAX_AGE_S: '1.5' }).bronze.maxAgeMs).toBe(1500);
    const all = loadConfig(env);
    expect(all.bronze.topicPattern).toEqual(/^shop\.v1\./);
    expect(all.monitor.cdcMetricsUrl).toBe('http://127.0.0.1:9999/metrics');
  });

  it('no longer reads a test hook from the configuration', () => {
    expect(serviceVariables('bronze-writer').filter((v) => v.includes('TEST'))).toEqual([]);
  });
});

describe('.env.example', () => {
  it('is the file generated from the configuration blocks (run `npm run config:env-example` when this fails)', async () => {
    expect(await readFile(path.join(REPO_ROOT, '.env.example'), 'utf8')).toBe(envExampleText());
  });

  it('documents every variable once, each with a description', () => {
    const text = envExampleText();
    const names = [...text.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(new Set(names).size).toBe(names.length);
    for (const service of ['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker', 'monitor', 'refresh', 'status'] as const) {
      for (const v of serviceVariables(service)) expect(names, v).toContain(v);
    }
    expect(text).not.toMatch(/^# \n/m);
  });
});
