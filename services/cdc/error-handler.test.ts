import { describe, expect, it } from 'vitest';
import { classifyFailure } from './error-handler.ts';
import { CdcSetupError } from './postgres-setup.ts';

/** Errors shaped as node-postgres, Node's net module and kafkajs build them. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { name: 'error', code });
const sysError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: 'connect' });
const kafkaError = (name: string, message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name, ...extra });

describe('classifyFailure: what the CDC service rides out', () => {
  it('a PostgreSQL restart or outage is retriable', () => {
    expect(classifyFailure(pgError('57P01', 'terminating connection due to administrator command'), 'postgres')).toEqual({ retriable: true, component: 'postgres', reason: '57P01: terminating connection due to administrator command' });
    expect(classifyFailure(pgError('57P03', 'the database system is starting up')).retriable).toBe(true);
    expect(classifyFailure(pgError('08006', 'connection failure')).retriable).toBe(true);
    expect(classifyFailure(pgError('53300', 'too many connections')).retriable).toBe(true);
    expect(classifyFailure(pgError('55006', 'replication slot "s" is active for PID 42')).retriable).toBe(true);
    expect(classifyFailure(sysError('ECONNREFUSED'))).toMatchObject({ retriable: true, component: 'postgres' });
    expect(classifyFailure(new Error('Connection terminated unexpectedly'))).toMatchObject({ retriable: true, component: 'postgres' });
    expect(classifyFailure(new Error('Client has encountered a connection error and is not queryable')).retriable).toBe(true);
    expect(classifyFailure(new Error('replication stream ended unexpectedly')).retriable).toBe(true);
  });

  it('a broker outage is retriable, with the reason of the innermost cause', () => {
    const cause = kafkaError('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', { retriable: true });
    const outer = kafkaError('KafkaJSNonRetriableError', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', { retriable: false, cause });
    expect(classifyFailure(outer)).toEqual({ retriable: true, component: 'kafka', reason: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092' });
    // Whatever the client throws while producing, unless it is a permanent broker error.
    expect(classifyFailure(new TypeError("Cannot destructure property 'brokers' of null"), 'kafka')).toMatchObject({ retriable: true, component: 'kafka' });
    expect(classifyFailure(kafkaError('KafkaJSProtocolError', 'This server is not the leader for that topic-partition', { type: 'NOT_LEADER_FOR_PARTITION', retriable: true }), 'kafka').retriable).toBe(true);
  });

  it('@platformatic/kafka errors: a network error is retriable wherever it is caught, an authorization failure is not', () => {
    const refused = Object.assign(new Error('Connection to 127.0.0.1:9092 failed.'), { code: 'PLT_KFK_NETWORK', canRetry: true, cause: sysError('ECONNREFUSED') });
    expect(classifyFailure(refused)).toMatchObject({ retriable: true, component: 'kafka' });
    const multiple = Object.assign(new AggregateError([refused], 'Producing messages failed.'), { code: 'PLT_KFK_MULTIPLE' });
    expect(classifyFailure(multiple, 'kafka')).toMatchObject({ retriable: true, component: 'kafka', reason: 'connect ECONNREFUSED 127.0.0.1:5432' });
    const denied = Object.assign(new Error('Topic authorization failed.'), { code: 'PLT_KFK_PROTOCOL', apiId: 'TOPIC_AUTHORIZATION_FAILED', canRetry: false });
    const response = Object.assign(new AggregateError([denied], 'Received response with error while executing API Produce(v9)'), { code: 'PLT_KFK_RESPONSE' });
    expect(classifyFailure(response, 'kafka')).toMatchObject({ retriable: false, component: 'kafka' });
  });

  it('permanent broker errors, setup errors, privileges and decoding errors stop the service', () => {
    const denied = kafkaError('KafkaJSProtocolError', 'Not authorized to access topics', { type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false });
    expect(classifyFailure(denied, 'kafka')).toEqual({ retriable: false, component: 'kafka', reason: 'TOPIC_AUTHORIZATION_FAILED: Not authorized to access topics' });
    expect(classifyFailure(new CdcSetupError('CDC_TABLES: table public.x does not exist in database sport'))).toEqual({ retriable: false, component: 'service', reason: 'CDC_TABLES: table public.x does not exist in database sport' });
    expect(classifyFailure(pgError('42501', 'permission denied for table activities'), 'postgres')).toMatchObject({ retriable: false, component: 'postgres' });
    expect(classifyFailure(pgError('28P01', 'password authentication failed for user "cdc_reader"')).retriable).toBe(false);
    expect(classifyFailure(new Error('unknown pgoutput message type 0x5a'), 'service').retriable).toBe(false);
    expect(classifyFailure(new Error('change for relation 16400 before its Relation message')).retriable).toBe(false);
  });

  it('a setup error caused by an outage is retriable', () => {
    const err = new CdcSetupError('CDC setup as POSTGRES_USER failed: terminating connection due to administrator command', { cause: pgError('57P01', 'terminating connection due to administrator command') });
    expect(classifyFailure(err)).toMatchObject({ retriable: true, component: 'postgres' });
    const refused = new CdcSetupError('CDC_ADMIN_SETUP=true but connecting as POSTGRES_USER (postgres) failed: connect ECONNREFUSED', { cause: sysError('ECONNREFUSED') });
    expect(classifyFailure(refused).retriable).toBe(true);
  });
});
