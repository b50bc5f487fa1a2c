/**
 * Configuration of every entry point, composed from blocks (services/common/config/): the shared
 * ones (PostgreSQL, Kafka, lake/S3, logging, HTTP listener, local stack) and one or two per
 * service. Each entry point validates only the blocks it reads ({@link SERVICE_BLOCKS}), so a bad
 * setting of one service never stops another; its type is derived from the blocks' schemas.
 *
 * Values come from the environment, then an optional `.env` at the repository root (never
 * overriding a variable already set). A bad value throws a {@link ConfigError} naming each
 * offending variable, before any connection opens. `.env.example` is generated from the blocks
 * (`npm run config:env-example`; a test fails when the committed file is stale).
 *
 * Adding a variable: declare it once, with `variable(NAME, schema, description)`, in the field
 * tree of the block that reads it (services/common/config/<block>.ts), then run
 * `npm run config:env-example`. See docs/architecture.md, "Configuration".
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { batchFilesBlock, batchRunBlock, productRulesBlock } from './config/batch.ts';
import { bronzeGroupBlock, bronzeWriterBlock } from './config/bronze.ts';
import { cdcBlock, cdcSlotBlock } from './config/cdc.ts';
import { ConfigError, loadBlocks, renderEnvExample, variablesOf, type ConfigOf } from './config/define.ts';
import { distanceBlock, distanceGroupBlock } from './config/distance.ts';
import { goldPgBlock, pgBiReaderRoleBlock, pgPublisherRoleBlock, refreshWatchBlock } from './config/gold.ts';
import { monitorBlock } from './config/monitor.ts';
import { REPO_ROOT } from './config/paths.ts';
import {
  kafkaAdminPrincipalBlock,
  kafkaAsAdmin,
  kafkaAsBronze,
  kafkaAsCdc,
  kafkaAsDistance,
  kafkaAsMonitor,
  kafkaAsNotifier,
  kafkaBlock,
  kafkaBronzePrincipalBlock,
  kafkaCdcPrincipalBlock,
  kafkaDistancePrincipalBlock,
  kafkaMonitorPrincipalBlock,
  kafkaNotifierPrincipalBlock,
  type KafkaCredentials,
  type KafkaPrincipal,
  lakeBlock,
  loggingBlock,
  pgAdminRoleBlock,
  pgCdcRoleBlock,
  pgDistanceRoleBlock,
  pgMonitorRoleBlock,
  pgNotifierRoleBlock,
  pgSimulatorRoleBlock,
  postgresBlock,
  publicationBlock,
  stackBlock,
  topicPrefixBlock,
} from './config/shared.ts';
import { slackBlock, slackGroupBlock } from './config/slack.ts';

export { ConfigError } from './config/define.ts';
export { REPO_ROOT } from './config/paths.ts';

/** The blocks each entry point reads (and validates), in `.env.example` order. */
export const SERVICE_BLOCKS = {
  cdc: [loggingBlock, postgresBlock, pgCdcRoleBlock, pgAdminRoleBlock, publicationBlock, kafkaBlock, kafkaCdcPrincipalBlock, kafkaAsCdc, cdcSlotBlock, cdcBlock],
  'bronze-writer': [loggingBlock, kafkaBlock, kafkaBronzePrincipalBlock, kafkaAsBronze, lakeBlock, bronzeGroupBlock, bronzeWriterBlock],
  'slack-notifier': [loggingBlock, postgresBlock, pgNotifierRoleBlock, kafkaBlock, kafkaNotifierPrincipalBlock, kafkaAsNotifier, slackGroupBlock, slackBlock, productRulesBlock],
  'distance-worker': [loggingBlock, postgresBlock, pgDistanceRoleBlock, kafkaBlock, kafkaDistancePrincipalBlock, kafkaAsDistance, distanceGroupBlock, distanceBlock],
  monitor: [loggingBlock, postgresBlock, pgMonitorRoleBlock, kafkaBlock, kafkaMonitorPrincipalBlock, kafkaAsMonitor, lakeBlock, cdcSlotBlock, bronzeGroupBlock, slackGroupBlock, distanceGroupBlock, batchFilesBlock, monitorBlock],
  refresh: [
    loggingBlock,
    postgresBlock,
    pgCdcRoleBlock,
    // The completeness watermark reads the CDC slot (monitor role) and the bronze group's offsets.
    pgMonitorRoleBlock,
    kafkaBlock,
    // ...as the monitor's Kafka principal: offsets and watermarks only, no message.
    kafkaMonitorPrincipalBlock,
    kafkaAsMonitor,
    cdcSlotBlock,
    bronzeGroupBlock,
    lakeBlock,
    batchFilesBlock,
    productRulesBlock,
    batchRunBlock,
    pgPublisherRoleBlock,
    pgBiReaderRoleBlock,
    goldPgBlock,
    refreshWatchBlock,
  ],
  /** `lakehouse status` and the other readers of the pipeline's state: the ops CLI, as the admin principal. */
  status: [loggingBlock, postgresBlock, pgMonitorRoleBlock, kafkaBlock, kafkaAdminPrincipalBlock, kafkaAsAdmin, cdcSlotBlock, bronzeGroupBlock, slackGroupBlock, distanceGroupBlock, batchFilesBlock],
} as const;

/** Every block: what scripts, tests and the ops CLI's composite commands read. */
export const ALL_BLOCKS = [
  loggingBlock,
  postgresBlock,
  pgAdminRoleBlock,
  pgCdcRoleBlock,
  pgSimulatorRoleBlock,
  pgDistanceRoleBlock,
  pgNotifierRoleBlock,
  pgMonitorRoleBlock,
  publicationBlock,
  kafkaBlock,
  kafkaAdminPrincipalBlock,
  kafkaCdcPrincipalBlock,
  kafkaBronzePrincipalBlock,
  kafkaNotifierPrincipalBlock,
  kafkaDistancePrincipalBlock,
  kafkaMonitorPrincipalBlock,
  kafkaAsAdmin,
  topicPrefixBlock,
  lakeBlock,
  stackBlock,
  cdcSlotBlock,
  cdcBlock,
  bronzeGroupBlock,
  bronzeWriterBlock,
  slackGroupBlock,
  slackBlock,
  distanceGroupBlock,
  distanceBlock,
  batchFilesBlock,
  productRulesBlock,
  batchRunBlock,
  pgPublisherRoleBlock,
  pgBiReaderRoleBlock,
  goldPgBlock,
  refreshWatchBlock,
  monitorBlock,
] as const;

export type ServiceName = keyof typeof SERVICE_BLOCKS;

/** Configuration of the CDC service. */
export type CdcConfig = ConfigOf<(typeof SERVICE_BLOCKS)['cdc']>;
/** Configuration of the bronze writer. */
export type BronzeWriterConfig = ConfigOf<(typeof SERVICE_BLOCKS)['bronze-writer']>;
/** Configuration of the Slack notifier. */
export type SlackNotifierConfig = ConfigOf<(typeof SERVICE_BLOCKS)['slack-notifier']>;
/** Configuration of the distance worker. */
export type DistanceWorkerConfig = ConfigOf<(typeof SERVICE_BLOCKS)['distance-worker']>;
/** Configuration of the monitor. */
export type MonitorConfig = ConfigOf<(typeof SERVICE_BLOCKS)['monitor']>;
/** Configuration of the batch refresh. */
export type RefreshConfig = ConfigOf<(typeof SERVICE_BLOCKS)['refresh']>;
/** Configuration of the pipeline status readers. */
export type StatusConfig = ConfigOf<(typeof SERVICE_BLOCKS)['status']>;
/** The lake settings (LAKE_URL and S3_*). */
export type LakeSettings = ConfigOf<[typeof lakeBlock]>;
/**
 * What a Kafka client needs (KAFKA_* and who it is): the broker settings, the principal the
 * process authenticates as (`kafka.as`, fixed by the entry point) and that principal's credentials.
 */
export type KafkaSettings = {
  kafka: ConfigOf<[typeof kafkaBlock]>['kafka'] & { as: KafkaPrincipal; principals: Partial<Record<KafkaPrincipal, KafkaCredentials>> };
};
export { KAFKA_PRINCIPALS, type KafkaCredentials, type KafkaPrincipal } from './config/shared.ts';
/** Every setting (scripts, tests, ops CLI): assignable to each service's configuration. */
export type Config = ConfigOf<typeof ALL_BLOCKS>;

let dotenvLoaded = false;

/** Reads `<repo>/.env` into process.env once, without overriding variables already set. */
function loadDotenvOnce(): void {
  if (dotenvLoaded) return;
  dotenvLoaded = true;
  const file = path.join(REPO_ROOT, '.env');
  if (existsSync(file)) dotenv.config({ path: file, override: false, quiet: true });
}

/** process.env after `.env` has been merged in. */
export function defaultEnv(): NodeJS.ProcessEnv {
  loadDotenvOnce();
  return process.env;
}

/**
 * Validates the variables `service` reads and returns its configuration.
 * @param env variables to read; defaults to process.env after `.env` has been merged in.
 * @throws ConfigError naming every invalid variable of that service (and only of that service).
 */
export function loadServiceConfig<S extends ServiceName>(service: S, env: NodeJS.ProcessEnv = defaultEnv()): ConfigOf<(typeof SERVICE_BLOCKS)[S]> {
  return loadBlocks(SERVICE_BLOCKS[service], env) as ConfigOf<(typeof SERVICE_BLOCKS)[S]>;
}

/**
 * Validates every variable and returns the whole configuration (scripts, tests, the ops CLI's
 * composite commands such as the demo, which start every service).
 * @param env variables to read; defaults to process.env after `.env` has been merged in.
 * @throws ConfigError naming every invalid variable, e.g. `POSTGRES_PORT: expected number ...`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = defaultEnv()): Config {
  return loadBlocks(ALL_BLOCKS, env);
}

/** The port of the first `host:port` in a broker list. */
export function firstBrokerPort(brokers: string[]): number {
  const first = brokers[0];
  if (!first) throw new ConfigError(['KAFKA_BROKERS: expected at least one host:port']);
  return Number(first.slice(first.lastIndexOf(':') + 1));
}

/** A PostgreSQL role of the platform: one per job (docs/security.md). */
export type PgRole = 'admin' | 'cdc' | 'simulator' | 'distance' | 'notifier' | 'monitor' | 'publisher' | 'biReader';

/**
 * libpq-style connection settings for the `pg` driver, as the job role `role` (which the
 * configuration must hold: each service composes the role blocks it connects as).
 */
export function pgConnection<R extends PgRole>(
  config: { postgres: { host: string; port: number; database: string } & { [K in R]: { user: string; password: string } } },
  role: R,
  database = config.postgres.database,
) {
  const creds = config.postgres[role] as { user: string; password: string };
  return {
    host: config.postgres.host,
    port: config.postgres.port,
    database,
    user: creds.user,
    password: creds.password,
    application_name: `sport-lakehouse-${role}`,
  };
}

/**
 * {@link loadConfig} for a script's entry point: a configuration error is printed as one
 * `<name>: Invalid configuration: ...` block naming each variable, and the process exits 2 before
 * any connection opens. Other errors are rethrown. (Services go through the service runtime.)
 */
export function loadConfigOrExit(name: string): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${name}: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

const ENV_EXAMPLE_HEADER = `# Generated by \`npm run config:env-example\` from services/common/config/ (do not edit: edit the
# variable's description there). Copy to .env and adjust. Every variable is optional: the defaults
# below are the local stack's (\`npm run stack -- up\`). Passwords here are for that loopback-only
# stack: set real secrets in .env (ignored by git) or in the environment anywhere else. Nothing
# here is logged. Each service validates only the sections it reads ("read by").`;

/** The text of `.env.example`: every block, with the entry points that read it. */
export function envExampleText(): string {
  const services = Object.keys(SERVICE_BLOCKS) as ServiceName[];
  return renderEnvExample(
    ENV_EXAMPLE_HEADER,
    ALL_BLOCKS.map((block) => {
      const readBy = services.filter((s) => (SERVICE_BLOCKS[s] as readonly unknown[]).includes(block));
      const variableReaders = (name: string) => services.filter((s) => variablesOf(SERVICE_BLOCKS[s]).has(name));
      return { block, readBy: readBy.length > 0 ? readBy : ['scripts, tests and the demo (the local stack)'], variableReaders };
    }),
  );
}

/** The names of the variables `service` reads (e.g. to check docker-compose.yml's environments). */
export function serviceVariables(service: ServiceName): string[] {
  return [...variablesOf(SERVICE_BLOCKS[service]).keys()];
}

/** The names of every variable (what scripts and {@link loadConfig} read). */
export function allVariables(): string[] {
  return [...variablesOf(ALL_BLOCKS).keys()];
}
