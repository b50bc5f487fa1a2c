/**
 * The blocks every service composes from (PostgreSQL, Kafka, lake/S3, logging, an HTTP listener,
 * the local stack) and the value schemas the blocks share. Defaults are the local stack's, so a
 * newcomer runs without a `.env`; the password defaults are for that loopback-only stack and must
 * be overridden anywhere else.
 */
import { lakeUrlProblem } from '../lake-url.ts';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, defineBlock, variable } from './define.ts';
import { REPO_ROOT } from './paths.ts';

// ------------------------------------------------------------------ value schemas

export const port = z.coerce.number().int().min(1).max(65535);
/** A port where 0 means "any free port" (the chosen one is logged). */
export const listenPort = z.coerce.number().int().min(0).max(65535);
export const nonEmpty = z.string().trim().min(1);
export const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
export const sqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a lower-case SQL identifier');
export const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port');
export const topicName = z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected letters, digits, ".", "_" or "-"');

/** A comma-separated list, each item checked by `item` (blanks dropped). */
export function commaList<T extends z.ZodType<unknown, string>>(item: T) {
  return z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(item));
}

/** Seconds in the environment, milliseconds in the configuration. */
export const secondsToMs = (s: number) => Math.round(s * 1000);

/** A path relative to the repository root in the environment, absolute in the configuration. */
export const fromRepoRoot = (p: string) => path.resolve(REPO_ROOT, p);

// ------------------------------------------------------------------ logging

export const loggingBlock = defineBlock({
  title: 'Logging',
  fields: {
    logLevel: variable('LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), 'pino level of the JSON log lines: fatal|error|warn|info|debug|trace|silent.'),
  },
});

// ------------------------------------------------------------------ PostgreSQL

export const postgresBlock = defineBlock({
  title: 'PostgreSQL (source database): server',
  fields: {
    postgres: {
      host: variable('POSTGRES_HOST', nonEmpty.default('127.0.0.1'), 'Host name or address of PostgreSQL.'),
      port: variable('POSTGRES_PORT', port.default(5432), 'Port of PostgreSQL.'),
      database: variable('POSTGRES_DB', sqlIdentifier.default('sport'), 'Source database.'),
    },
  },
});

/**
 * The block of one PostgreSQL role of the platform (one per job, docs/security.md): a service
 * composes the roles it connects as, and validates only those.
 */
export function roleBlock<R extends string>(role: R, prefix: string, defaultUser: string, defaultPassword: string, what: string) {
  return defineBlock({
    title: `PostgreSQL role: ${what}`,
    fields: {
      postgres: {
        [role]: {
          user: variable(`${prefix}_USER`, sqlIdentifier.default(defaultUser), `Role of ${what}.`),
          password: variable(`${prefix}_PASSWORD`, nonEmpty.default(defaultPassword), `Password of ${prefix}_USER.`, { secret: true }),
        },
      },
    },
    finish: (c) => ({ postgres: c.postgres as { [K in R]: { user: string; password: string } } }),
  });
}

/** Owner of the schema: migrations, seeding, prepare-source and the CDC publication setup only. */
export const pgAdminRoleBlock = roleBlock('admin', 'POSTGRES', 'postgres', 'postgres-local-only', 'the schema owner (migrations, seeding, CDC publication setup only)');
/** REPLICATION and SELECT on the published tables only (CDC; the monitor and status read the slot as it). */
export const pgCdcRoleBlock = roleBlock('cdc', 'CDC_DB', 'cdc_reader', 'cdc-local-only', 'the CDC service (REPLICATION + SELECT on the published tables)');
/** The simulator: employee ids and declared sports; writes activities. */
export const pgSimulatorRoleBlock = roleBlock('simulator', 'SIMULATOR_DB', 'sport_simulator', 'simulator-local-only', 'the simulator (writes activities)');
/** The distance worker: employees' home address and commute mode; writes commute distances and its cache. */
export const pgDistanceRoleBlock = roleBlock('distance', 'DISTANCE_DB', 'distance_worker', 'distance-local-only', 'the distance worker (writes commute distances)');
/** The Slack notifier: employees' names; inserts into (never updates or deletes) its ledger. */
export const pgNotifierRoleBlock = roleBlock('notifier', 'NOTIFIER_DB', 'slack_notifier', 'notifier-local-only', 'the Slack notifier (inserts into its ledger)');

/** Readers of replication health only (monitor, `lakehouse status`): the slot's state and lag; no table, no REPLICATION. */
export const pgMonitorRoleBlock = roleBlock('monitor', 'MONITOR_DB', 'lakehouse_monitor', 'monitor-local-only', 'the monitor and `lakehouse status` (replication slot state only)');

/** The publication the CDC service streams (created by the migrations or prepare-source). */
export const publicationBlock = defineBlock({
  title: 'PostgreSQL publication',
  fields: {
    postgres: { publication: variable('CDC_PUBLICATION', sqlIdentifier.default('sport_cdc'), 'Publication the CDC service streams (created by `npm run db:migrate` or `lakehouse prepare-source`).') },
  },
});

// ------------------------------------------------------------------ Kafka

export const KAFKA_TOPIC_PREFIX = variable('KAFKA_TOPIC_PREFIX', topicName.default('sport'), 'Topics are <prefix>.<schema>.<table>; dead-letter topics <topic>.dlq.');

export const kafkaBlock = defineBlock({
  title: 'Kafka API broker (Apache Kafka locally, Redpanda with docker compose)',
  fields: {
    kafka: {
      brokers: variable('KAFKA_BROKERS', commaList(hostPort).pipe(z.array(z.string()).min(1, 'expected at least one host:port')).default(['127.0.0.1:9092']), 'Comma-separated host:port list of bootstrap brokers.'),
      clientId: variable('KAFKA_CLIENT_ID', nonEmpty.default('sport-lakehouse'), 'Kafka client id (each service appends its name).'),
      topicPrefix: KAFKA_TOPIC_PREFIX,
      topicPartitions: variable('KAFKA_TOPIC_PARTITIONS', z.coerce.number().int().min(1).max(1000).default(3), 'Partitions of the topics the CDC service creates.'),
      security: {
        mechanism: variable(
          'KAFKA_SASL_MECHANISM',
          z.enum(['SCRAM-SHA-256', 'SCRAM-SHA-512', 'none']).default('SCRAM-SHA-256'),
          'SASL mechanism of every client: SCRAM-SHA-256|SCRAM-SHA-512, or none for a broker without authentication (never in production). The local stack and docker compose run SCRAM with ACLs (docs/security.md).',
        ),
        tls: variable('KAFKA_TLS', bool.default(false), 'Encrypt client connections with TLS (SASL_SSL): true|false. See docs/security.md, "TLS".'),
        tlsCaFile: variable('KAFKA_TLS_CA_FILE', z.string().trim().min(1).transform(fromRepoRoot).optional(), "PEM file of the CA that signed the brokers' certificates (KAFKA_TLS=true); unset = the system's CAs."),
      },
    },
  },
});

/** The Kafka principals of the platform (docs/security.md): one per service, and the admin of setup and the ops CLI. */
export const KAFKA_PRINCIPALS = ['admin', 'cdc', 'bronze-writer', 'slack-notifier', 'distance-worker', 'monitor'] as const;
export type KafkaPrincipal = (typeof KAFKA_PRINCIPALS)[number];
/** A principal's SASL/SCRAM credentials. */
export type KafkaCredentials = { username: string; password: string };

const kafkaUsername = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'expected letters, digits, ".", "_" or "-"');

/**
 * The block of one Kafka principal (its SASL user name and password): the local stack and
 * `lakehouse kafka-access` create the user and its ACLs (services/common/kafka/access.ts); a
 * service composes its own principal and {@link kafkaIdentityBlock} to authenticate as it.
 */
function kafkaPrincipalBlock<P extends KafkaPrincipal>(principal: P, prefix: string, defaultUser: string, what: string) {
  return defineBlock({
    title: `Kafka principal: ${what}`,
    fields: {
      kafka: {
        principals: {
          [principal]: {
            username: variable(`${prefix}_USER`, kafkaUsername.default(defaultUser), `SASL user of ${what}.`),
            password: variable(`${prefix}_PASSWORD`, nonEmpty.default(`${defaultUser.replace(/^lakehouse-/, '')}-kafka-local-only`), `Password of ${prefix}_USER.`, { secret: true }),
          },
        },
      },
    },
    finish: (c) => ({ kafka: { principals: c.kafka.principals as { [K in P]: KafkaCredentials } } }),
  });
}

/** Super user of the cluster: topic and ACL setup (local stack), the ops CLI, scripts, tests, benchmarks. */
export const kafkaAdminPrincipalBlock = kafkaPrincipalBlock('admin', 'KAFKA_ADMIN', 'lakehouse-admin', 'the admin (setup, ops CLI, scripts and tests)');
/** Writes the source topics and the schema topic; nobody else may. */
export const kafkaCdcPrincipalBlock = kafkaPrincipalBlock('cdc', 'CDC_KAFKA', 'lakehouse-cdc', 'the CDC service (writes the source topics)');
/** Reads the source namespace's topics; writes the dead-letter topics of the captured tables. */
export const kafkaBronzePrincipalBlock = kafkaPrincipalBlock('bronze-writer', 'BRONZE_KAFKA', 'lakehouse-bronze-writer', 'the bronze writer');
/** Reads the activities topic only; writes its dead-letter topic. */
export const kafkaNotifierPrincipalBlock = kafkaPrincipalBlock('slack-notifier', 'NOTIFIER_KAFKA', 'lakehouse-slack-notifier', 'the Slack notifier');
/** Reads the employees topic only; writes its dead-letter topic. */
export const kafkaDistancePrincipalBlock = kafkaPrincipalBlock('distance-worker', 'DISTANCE_KAFKA', 'lakehouse-distance-worker', 'the distance worker');
/** Offsets, watermarks and group membership only: no message. */
export const kafkaMonitorPrincipalBlock = kafkaPrincipalBlock('monitor', 'MONITOR_KAFKA', 'lakehouse-monitor', 'the monitor (offsets and lag only)');

/**
 * Which principal the process's Kafka clients authenticate as: fixed by the entry point, not a
 * variable (each service its own; scripts, tests and the ops CLI the admin).
 */
export function kafkaIdentityBlock(principal: KafkaPrincipal) {
  return defineBlock({ title: `Kafka identity: ${principal}`, fields: {}, finish: () => ({ kafka: { as: principal as KafkaPrincipal } }) });
}
export const kafkaAsAdmin = kafkaIdentityBlock('admin');
export const kafkaAsCdc = kafkaIdentityBlock('cdc');
export const kafkaAsBronze = kafkaIdentityBlock('bronze-writer');
export const kafkaAsNotifier = kafkaIdentityBlock('slack-notifier');
export const kafkaAsDistance = kafkaIdentityBlock('distance-worker');
export const kafkaAsMonitor = kafkaIdentityBlock('monitor');

/** The deployment's source namespace alone (KAFKA_TOPIC_PREFIX), for readers that need no broker (the batch). */
export const topicPrefixBlock = defineBlock({
  title: 'Source namespace (the topic prefix)',
  fields: { kafka: { topicPrefix: KAFKA_TOPIC_PREFIX } },
});

// ------------------------------------------------------------------ lake (S3 / MinIO or a local directory)

export const lakeBlock = defineBlock({
  title: 'Lake: a local directory (default) or an S3 bucket (MinIO locally)',
  fields: {
    lakeUrl: variable(
      'LAKE_URL',
      z
        .string()
        .superRefine((url, ctx) => {
          const problem = lakeUrlProblem(url);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default('file:./lake'),
      'file:<dir> (relative to the repository) or s3://<bucket>/<prefix> (bucket checked at start-up: it must exist at S3_ENDPOINT).',
    ),
    s3: {
      endpoint: variable('S3_ENDPOINT', z.url().default('http://127.0.0.1:9000'), 'S3 endpoint (MinIO locally).'),
      region: variable('S3_REGION', nonEmpty.default('us-east-1'), 'S3 region.'),
      accessKeyId: variable('S3_ACCESS_KEY_ID', nonEmpty.default('lakehouse'), 'S3 access key id (local stack: also MinIO\'s root user).', { secret: true }),
      secretAccessKey: variable('S3_SECRET_ACCESS_KEY', nonEmpty.default('lakehouse-local-only'), 'S3 secret access key.', { secret: true }),
      bucket: variable('S3_BUCKET', z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name').default('lakehouse'), 'Bucket the local stack creates.'),
      forcePathStyle: variable('S3_FORCE_PATH_STYLE', bool.default(true), 'Path-style requests (MinIO): true|false.'),
    },
  },
});

// ------------------------------------------------------------------ local stack

export const stackBlock = defineBlock({
  title: 'Local stack (`npm run stack`, tests, demo)',
  fields: {
    stack: {
      kafkaControllerPort: variable('KAFKA_CONTROLLER_PORT', port.default(9093), 'Local stack only: the KRaft controller listener.'),
      minioConsolePort: variable('MINIO_CONSOLE_PORT', port.default(9001), 'Local stack only: MinIO console.'),
      dir: variable('STACK_DIR', nonEmpty.default('.local/stack').transform(fromRepoRoot), 'Server data and logs of the local stack (ignored by git).'),
      cacheDir: variable('LAKEHOUSE_CACHE_DIR', z.string().optional(), 'Where install-services keeps binaries; default $XDG_CACHE_HOME or ~/.cache, /sport-lakehouse.'),
    },
  },
  finish: (c) => ({
    ...c,
    stack: { ...c.stack, cacheDir: c.stack.cacheDir ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? '/tmp', '.cache'), 'sport-lakehouse') },
  }),
});

// ------------------------------------------------------------------ HTTP listener

/**
 * The variables of an HTTP listener named `<PREFIX>_HOST` / `<PREFIX>_PORT`: the host defaults to
 * 127.0.0.1 (loopback: set 0.0.0.0 in a container), port 0 means any free port (logged).
 */
export function httpListenerVariables(prefix: string, defaultPort: number, what: string) {
  return {
    host: variable(`${prefix}_HOST`, nonEmpty.default('127.0.0.1'), `Interface ${what} listens on (0.0.0.0 in a container).`),
    port: variable(`${prefix}_PORT`, listenPort.default(defaultPort), `Port ${what} listens on (0 = any free port, logged).`),
  };
}

/** @throws ConfigError with one line per problem when `problems` is not empty. */
export function failIf(problems: readonly (string | false | undefined)[]): void {
  const list = problems.filter((p): p is string => typeof p === 'string');
  if (list.length > 0) throw new ConfigError(list);
}
