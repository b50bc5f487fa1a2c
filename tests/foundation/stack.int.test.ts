/**
 * The foundation on real servers: PostgreSQL with logical replication and least-privilege
 * roles, a Kafka broker that stores and returns messages, MinIO that stores and returns objects,
 * and migrations that can run again.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createConsumer, createProducer, KafkaAdmin } from '../../services/common/kafka/index.ts';
import { createLogger } from '../../services/common/logger.ts';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT } from '../../services/common/config.ts';
import { createS3Client } from '../../services/common/s3.ts';
import { migrate } from '../../scripts/lib/migrate.ts';
import { stackStatus, startService, stopService } from '../../scripts/lib/stack.ts';

const config = loadConfig();

describe('local stack', () => {
  it('reports all three servers running and healthy', async () => {
    const status = await stackStatus(config);
    expect(status.map((s) => [s.service, s.healthy])).toEqual([
      ['postgres', true],
      ['kafka', true],
      ['minio', true],
    ]);
  });
});

describe('PostgreSQL', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client(pgConnection(config, 'admin'));
    await admin.connect();
  });
  afterAll(() => admin.end());

  it('runs with wal_level=logical and publishes the four source tables', async () => {
    expect((await admin.query('SHOW wal_level')).rows[0].wal_level).toBe('logical');
    const pub = await admin.query('SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY tablename', [config.postgres.publication]);
    expect(pub.rows.map((r) => r.tablename)).toEqual(['activities', 'commute_distances', 'declared_sports', 'employees']);
    const identity = await admin.query(`SELECT relname, relreplident FROM pg_class WHERE relname = ANY($1) ORDER BY relname`, [
      ['activities', 'commute_distances', 'declared_sports', 'employees'],
    ]);
    expect(identity.rows.every((r) => r.relreplident === 'f')).toBe(true);
  });

  it('rejects rows that break the CHECK constraints', async () => {
    await admin.query(`INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, commute_mode)
      VALUES (999001, 'Test', 'Check', '1990-01-01', 'IT', '2020-01-01', 40000, 'CDI', 25, '1 rue X', '34000', 'Montpellier', 'Marche/running')
      ON CONFLICT DO NOTHING`);
    await expect(admin.query(`INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m) VALUES (999001, 'Runing', now(), now() - interval '1 hour', 0, 1000)`)).rejects.toThrow(/check constraint/);
    await expect(admin.query(`INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m) VALUES (999001, 'Runing', now(), now(), 0, -5)`)).rejects.toThrow(/check constraint/);
    await expect(admin.query(`UPDATE employees SET commute_mode = 'Téléportation' WHERE employee_id = 999001`)).rejects.toThrow(/check constraint/);
    await admin.query('DELETE FROM employees WHERE employee_id = 999001');
  });

  it('gives the CDC role REPLICATION and read access to published tables only', async () => {
    const role = await admin.query('SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = $1', [config.postgres.cdc.user]);
    expect(role.rows[0]).toEqual({ rolreplication: true, rolsuper: false });
    const cdc = new pg.Client(pgConnection(config, 'cdc'));
    await cdc.connect();
    try {
      await expect(cdc.query('SELECT count(*) FROM activities')).resolves.toBeTruthy();
      await expect(cdc.query(`INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds) VALUES (1, 'x', now(), now(), 0)`)).rejects.toThrow(/permission denied/);
      await expect(cdc.query('SELECT * FROM schema_migrations')).rejects.toThrow(/permission denied/);
    } finally {
      await cdc.end();
    }
  });

  it('re-runs the migrations without applying a versioned file twice', async () => {
    const again = await migrate(config);
    expect(again.skipped).toContain('001_source_tables.sql');
    // Only the files marked `-- repeatable` (roles and grants follow .env) run again.
    expect(again.applied).toEqual(['002_roles_and_publication.sql', '005_gold_serving_roles.sql', '090_grants.sql', 'analytics/001_gold_serving.sql']);
  });
});

describe('Kafka', () => {
  it('creates a topic, stores a message with acks=all and returns it to a consumer', async () => {
    const logger = createLogger('foundation-test', 'silent');
    const topic = `foundation.smoke.${Date.now()}`;
    const admin = KafkaAdmin.create(config, 'foundation-test', logger);
    await admin.ensureTopic(topic, 2);
    const producer = createProducer(config, 'foundation-test', logger);
    await producer.send({ messages: [{ topic, key: 'k1', value: 'hello' }] });
    await producer.close();
    const consumer = createConsumer(config, 'foundation-test', logger, { groupId: `${topic}.g` });
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    let received = '';
    for await (const message of stream) {
      received = `${message.key?.toString()}=${message.value?.toString()}`;
      break;
    }
    await stream.close();
    await consumer.close(true);
    await admin.deleteTopics([topic]);
    await admin.close();
    expect(received).toBe('k1=hello');
  });
});

describe('MinIO', () => {
  it('stores and returns an object in the lake bucket', async () => {
    const s3 = createS3Client(config);
    const key = `smoke/${Date.now()}.txt`;
    await s3.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: key, Body: 'bonjour' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: key }));
    expect(await got.Body?.transformToString()).toBe('bonjour');
    s3.destroy();
  });
});

describe('stopping PostgreSQL with clients connected (issue 14: SIGKILL after 30 s, then crash recovery)', () => {
  it('is a fast shutdown: clients are disconnected, no SIGKILL, and the next start runs no crash recovery', async () => {
    const clients = [new pg.Client(pgConnection(config, 'admin')), new pg.Client(pgConnection(config, 'admin'))];
    for (const c of clients) {
      c.on('error', () => undefined); // terminated by the shutdown, as expected
      await c.connect();
    }
    await clients[1]!.query('BEGIN');
    await clients[1]!.query('SELECT 1'); // one session idle in a transaction
    const logFile = path.join(path.resolve(REPO_ROOT, config.stack.dir), 'postgres', 'postgres.log');
    const from = statSync(logFile).size;
    const said: string[] = [];
    try {
      await stopService(config, 'postgres', (line) => said.push(line));
    } finally {
      await startService(config, 'postgres');
    }
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    expect(said.join('\n')).toMatch(/^postgres: stopping pid \d+ \(SIGINT\)$/m);
    expect(said.join('\n')).not.toContain('SIGKILL');
    const log = readFileSync(logFile).subarray(from).toString();
    expect(log).toContain('received fast shutdown request');
    expect(log).toContain('database system is shut down');
    expect(log).not.toMatch(/not properly shut down|automatic recovery in progress/);
  }, 180_000);
});
