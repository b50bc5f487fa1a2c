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

  it('logs an aggregated error (the Kafka client\'s retries) as its distinct innermost causes, not the whole tree', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const logger = createLogger('t', 'info', sink);
    const refused = () => new AggregateError([new Error('connect ECONNREFUSED 127.0.0.1:9092'), new Error('connect ECONNREFUSED 127.0.0.1:9092')], 'Cannot connect to any broker.');
    const err = Object.assign(new AggregateError([new AggregateError([refused(), refused()], 'findGroupCoordinator failed 4 times.'), new Error('This is not the correct coordinator.')], 'joinGroup failed 4 times.'), { code: 'PLT_KFK_MULTIPLE' });
    logger.warn({ err }, 'joining failed');
    const line = JSON.parse(lines.join('')) as { err: Record<string, unknown> };
    expect(line.err).toMatchObject({ type: 'AggregateError', message: 'joinGroup failed 4 times.', code: 'PLT_KFK_MULTIPLE', causes: ['connect ECONNREFUSED 127.0.0.1:9092', 'This is not the correct coordinator.'] });
    expect(line.err).not.toHaveProperty('aggregateErrors');
    logger.warn({ err: Object.assign(new Error('relation missing'), { code: '42P01' }) }, 'plain');
    expect(JSON.parse(lines[1]!)).toMatchObject({ err: { type: 'Error', message: 'relation missing', code: '42P01' } });
  });
});
