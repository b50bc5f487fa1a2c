import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

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
