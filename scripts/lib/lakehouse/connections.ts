/**
 * Short-lived connections for the ops CLI's commands: one Kafka admin client, one PostgreSQL
 * client, each closed when the command's work is done. A connection that fails is reported as an
 * {@link UnreachableError} naming the system, its address and the variables that set it.
 *
 * The Kafka admin client comes from the project's factory (services/common/kafka); its own log
 * lines are off here: a failure is the command's error, printed once.
 */
import pg from 'pg';
import type { Config } from '../../../services/common/config.ts';
import { KafkaAdmin } from '../../../services/common/kafka/index.ts';
import { createLogger } from '../../../services/common/logger.ts';
import { UnreachableError } from './errors.ts';

/**
 * Runs `fn` with a connected Kafka admin client (client id `<KAFKA_CLIENT_ID>-<purpose>`), then
 * disconnects it.
 * @throws UnreachableError when the brokers cannot be reached; errors of `fn` as they are.
 */
export async function withKafkaAdmin<T>(config: Config, purpose: string, fn: (admin: KafkaAdmin) => Promise<T>): Promise<T> {
  const admin = connectableKafkaAdmin(config, purpose);
  try {
    // The client connects lazily: probe the cluster first, so that a broker down is named as such.
    await admin.describeCluster();
  } catch (err) {
    await admin.close().catch(() => undefined);
    throw new UnreachableError('Kafka', config.kafka.brokers.join(','), 'KAFKA_BROKERS', err);
  }
  try {
    return await fn(admin);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** A Kafka admin client for the CLI (connects on first use). Five retries 100 ms apart plus the connect timeout: enough for a broker that has just started (its group coordinators still loading), short enough for an operator waiting on one that is down. */
export function connectableKafkaAdmin(config: Config, purpose: string): KafkaAdmin {
  return KafkaAdmin.create(config, purpose, createLogger(`lakehouse-${purpose}`, 'silent'), { retries: 5, retryDelay: 100, connectTimeout: 3_000 });
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
