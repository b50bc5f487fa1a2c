import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { attachKafkaLogging, kafkaErrorFields, kafkaErrorMessage } from './logging.ts';

function capture(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('svc', level, new Writable({ write(chunk: Buffer, _e, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } }));
  return { lines, logger };
}

describe('Kafka client events in pino', () => {
  it('maps each client event to one line at its level, under component "kafka"', () => {
    const { lines, logger } = capture();
    const client = attachKafkaLogging(new EventEmitter(), logger);
    client.emit('consumer:group:join', { groupId: 'g', memberId: 'm', generationId: 3, isLeader: true, assignments: [{ topic: 't', partitions: [2, 0] }] });
    client.emit('client:performWithRetry:retry', 7n, 0, 3, 250);
    client.emit('client:performWithRetry:retry', 7n, 4, 10, 250);
    client.emit('client:performWithRetry:failed', 7n, 3, [new Error('first'), Object.assign(new Error('leader moved'), { code: 'PLT_KFK_PROTOCOL', canRetry: true })]);
    client.emit('consumer:heartbeat:error', { error: new Error('REBALANCE_IN_PROGRESS') });
    client.emit('error', new Error('heartbeat gave up'));
    expect(lines.map((l) => [l.level, l.msg, l.component, l.service])).toEqual([
      [30, 'kafka consumer joined the group', 'kafka', 'svc'],
      [20, 'kafka operation retried', 'kafka', 'svc'],
      [40, 'kafka operation retried', 'kafka', 'svc'],
      [40, 'kafka operation failed after retries', 'kafka', 'svc'],
      [40, 'kafka heartbeat refused', 'kafka', 'svc'],
      [50, 'kafka client error', 'kafka', 'svc'],
    ]);
    expect(lines[0]).toMatchObject({ groupId: 'g', generationId: 3, leader: true, assignment: { t: [0, 2] } });
    expect(lines[2]).toMatchObject({ operationId: '7', attempt: 5 });
    expect(lines[3]).toMatchObject({ err: { message: 'leader moved', code: 'PLT_KFK_PROTOCOL', canRetry: true } });
  });

  it('logs the MEMBER_ID_REQUIRED handshake of a first join (or any rejoin request) at debug, not as a failure', () => {
    const { lines, logger } = capture();
    const client = attachKafkaLogging(new EventEmitter(), logger);
    const handshake = Object.assign(new Error('Received response with error while executing API JoinGroup(v9)'), { errors: [Object.assign(new Error('The group member needs to have a valid member id before actually entering a consumer group.'), { needsRejoin: true })] });
    client.emit('client:performWithRetry:failed', 1n, 3, [handshake]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[20, 'kafka operation failed after retries']]);
  });

  it('logs a fetch cut by the consumer closing its own stream at debug (issue 14: one warning per outage)', () => {
    const { lines, logger } = capture();
    const client = attachKafkaLogging(new EventEmitter(), logger);
    client.emit('client:performWithRetry:failed', 'fetch', 0, [Object.assign(new Error('Connection pool is closed.'), { code: 'PLT_KFK_NETWORK', canRetry: false })]);
    client.emit('client:performWithRetry:failed', 'fetch', 0, [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'PLT_KFK_NETWORK' })]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [20, 'kafka operation failed after retries'],
      [40, 'kafka operation failed after retries'],
    ]);
  });

  it('keeps an error event from throwing out of the emitter', () => {
    const { logger } = capture('fatal');
    const client = attachKafkaLogging(new EventEmitter(), logger);
    expect(() => client.emit('error', new Error('boom'))).not.toThrow();
  });

  it('summarises an aggregate error with its first causes', () => {
    const err = Object.assign(new Error('Producing messages failed.'), { errors: [new Error('a'), 'b'] });
    expect(kafkaErrorFields(err)).toEqual({ err: { type: 'Error', message: 'Producing messages failed: a', code: undefined, apiCode: undefined, canRetry: undefined }, causes: ['a', 'b'] });
  });
});

describe('kafkaErrorMessage', () => {
  it('names the operation and its innermost cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' });
    const network = new Error('Connection to 127.0.0.1:9092 failed.', { cause: refused });
    const nested = Object.assign(new AggregateError([Object.assign(new AggregateError([network], 'Cannot connect to any broker.'))], 'metadata failed 2 times.'));
    const top = new AggregateError([nested], 'Listing topics failed.');
    expect(kafkaErrorMessage(top)).toBe('Listing topics failed: connect ECONNREFUSED 127.0.0.1:9092');
    expect(kafkaErrorMessage(new Error('plain'))).toBe('plain');
    expect(kafkaErrorMessage(new AggregateError([new Error('connect ECONNREFUSED ::1:5432')], ''))).toBe('connect ECONNREFUSED ::1:5432');
  });
});
