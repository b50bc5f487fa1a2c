import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from './logger.ts';

describe('redactUrl', () => {
  it('masks the password of a connection string', () => {
    expect(redactUrl('postgres://cdc:s3cret@db:5432/sport')).toBe('postgres://cdc:***@db:5432/sport');
  });
  it('masks secret-looking query parameters and Slack webhook paths', () => {
    expect(redactUrl('https://maps.example/api?key=AIzaXYZ&mode=walking')).toBe('https://maps.example/api?key=***&mode=walking');
    expect(redactUrl('https://hooks.slack.com/services/T000/B000/XXXX')).toBe('https://hooks.slack.com/services/***');
  });
  it('leaves non-URLs alone', () => {
    expect(redactUrl('127.0.0.1:9092')).toBe('127.0.0.1:9092');
  });
});

describe('createLogger', () => {
  it('redacts secret fields at any of the first levels', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const logger = createLogger('t', 'info', sink);
    logger.info({ password: 'p1', db: { password: 'p2' }, s3: { secretAccessKey: 'k' }, user: 'cdc' }, 'connect');
    const line = lines.join('');
    expect(line).not.toMatch(/p1|p2|"k"/);
    expect(line).toContain('[redacted]');
    expect(line).toContain('"user":"cdc"');
  });
});
