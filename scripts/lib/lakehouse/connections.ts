/**
 * Short-lived connections for the ops CLI's commands: one Kafka admin client, one PostgreSQL
 * client, each closed when the command's work is done. A connection that fails is reported as an
 * {@link UnreachableError} naming the system, its address and the variables that set it.
 *
 * The Kafka client is built here once for the whole CLI (runtime-kafka's client factory replaces
 * this construction when it lands; see /work/team/notes/ops-cli.md).
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import type { Config } from '../../../services/common/config.ts';
import { UnreachableError } from './errors.ts';

/**
 * Runs `fn` with a connected Kafka admin client (client id `<KAFKA_CLIENT_ID>-<purpose>`), then
 * disconnects it.
 * @throws UnreachableError when the brokers cannot be reached; errors of `fn` as they are.
 */
export async function withKafkaAdmin<T>(config: Config, purpose: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = connectableKafkaAdmin(config, purpose);
  try {
    await admin.connect();
  } catch (err) {
    throw new UnreachableError('Kafka', config.kafka.brokers.join(','), 'KAFKA_BROKERS', err);
  }
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** A Kafka admin client for the CLI, not yet connected. Five retries from 100 ms (about 3 s in all): enough for a broker that has just started (its group coordinators still loading), short enough for an operator waiting on one that is down. */
export function connectableKafkaAdmin(config: Config, purpose: string): Admin {
  const kafka = new Kafka({ clientId: `${config.kafka.clientId}-${purpose}`, brokers: config.kafka.brokers, logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100 } });
  return kafka.admin();
}

/**
 * Runs `fn` with a connected PostgreSQL client, then closes it.
 * @param role what the connection is, for the error message, e.g. `CDC role cdc_reader (CDC_DB_USER)`.
 * @throws UnreachableError when the connection fails (server down, wrong password, missing database).
 */
export async function withPostgres<T>(settings: pg.ClientConfig, role: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionTimeoutMillis: 10_000, ...settings });
  try {
    await db.connect();
  } catch (err) {
    await db.end().catch(() => undefined);
    throw new UnreachableError(`PostgreSQL as the ${role}`, `${settings.host}:${settings.port}/${settings.database}`, 'POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB', err);
  }
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}
