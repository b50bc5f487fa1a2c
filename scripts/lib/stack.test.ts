import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/common/config.ts';
import { MissingBinaryError, isOurProcess, resolveBinaries } from './stack.ts';

describe('resolveBinaries', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('names the missing binary and gives the install command', () => {
    process.env.MINIO_BIN = '/nonexistent/minio';
    const config = loadConfig({ LAKEHOUSE_CACHE_DIR: '/nonexistent-cache' });
    expect(() => resolveBinaries(config, ['minio'])).toThrow(MissingBinaryError);
    expect(() => resolveBinaries(config, ['minio'])).toThrow('MinIO server binary "minio" not found (looked in /nonexistent/minio). Install it with: bash scripts/install-services');
  });

  it('requires the Kafka jars, not just a directory', () => {
    process.env.KAFKA_HOME = '/tmp';
    const config = loadConfig({ LAKEHOUSE_CACHE_DIR: '/nonexistent-cache' });
    expect(() => resolveBinaries(config, ['kafka'])).toThrow(/Apache Kafka jars \(kafka_2\.13-\*\.jar\) not found .*install-services/);
  });
});

describe('isOurProcess', () => {
  it('accepts a live pid whose command line has the marker, and nothing else', () => {
    expect(isOurProcess({ pid: process.pid, cmdlineMarker: 'node', port: 0, startedAt: '' })).toBe(true);
    expect(isOurProcess({ pid: process.pid, cmdlineMarker: 'not-in-the-cmdline', port: 0, startedAt: '' })).toBe(false);
    expect(isOurProcess({ pid: 2 ** 22 + 12345, cmdlineMarker: 'node', port: 0, startedAt: '' })).toBe(false);
    expect(isOurProcess(undefined)).toBe(false);
  });
});
