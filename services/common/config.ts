/**
 * The project's one configuration module.
 *
 * Every service, script and test reads its settings through {@link loadConfig}: environment
 * variables first, then an optional `.env` file at the repository root (never overriding a
 * variable already set). Values are validated once, at start-up, with zod; a bad value throws a
 * {@link ConfigError} whose message names each offending variable, before any connection opens.
 *
 * `.env.example` documents every variable read here. Defaults are the local stack's, so a
 * newcomer can run without a `.env`; the password defaults are for that loopback-only stack and
 * must be overridden anywhere else.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import { z } from 'zod';

/** Absolute path of the repository root (the directory holding package.json). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Thrown when one or more variables are invalid; `issues` lists `VARIABLE: problem` lines. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const port = z.coerce.number().int().min(1).max(65535);
const nonEmpty = z.string().trim().min(1);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port');
const sqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a lower-case SQL identifier');

/**
 * The environment as the schema sees it: one key per variable, so zod's issue paths are the
 * variable names and error messages can name them directly.
 */
const envSchema = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  POSTGRES_HOST: nonEmpty.default('127.0.0.1'),
  POSTGRES_PORT: port.default(5432),
  POSTGRES_DB: sqlIdentifier.default('sport'),
  POSTGRES_USER: sqlIdentifier.default('postgres'),
  POSTGRES_PASSWORD: nonEmpty.default('postgres-local-only'),
  CDC_DB_USER: sqlIdentifier.default('cdc_reader'),
  CDC_DB_PASSWORD: nonEmpty.default('cdc-local-only'),
  // One role per writer (docs/security.md), created by the migrations with only what its job uses.
  SIMULATOR_DB_USER: sqlIdentifier.default('sport_simulator'),
  SIMULATOR_DB_PASSWORD: nonEmpty.default('simulator-local-only'),
  DISTANCE_DB_USER: sqlIdentifier.default('distance_worker'),
  DISTANCE_DB_PASSWORD: nonEmpty.default('distance-local-only'),
  NOTIFIER_DB_USER: sqlIdentifier.default('slack_notifier'),
  NOTIFIER_DB_PASSWORD: nonEmpty.default('notifier-local-only'),
  // Readers of replication health only (monitor, `lakehouse status`): no table, no REPLICATION.
  MONITOR_DB_USER: sqlIdentifier.default('lakehouse_monitor'),
  MONITOR_DB_PASSWORD: nonEmpty.default('monitor-local-only'),
  // Gold served from PostgreSQL (services/batch/pg-publish.ts, docs/powerbi.md): the publishing
  // role owns the analytics schemas; the BI role reads the views only.
  GOLD_PUBLISHER_DB_USER: sqlIdentifier.default('gold_publisher'),
  GOLD_PUBLISHER_DB_PASSWORD: nonEmpty.default('publisher-local-only'),
  BI_READER_DB_USER: sqlIdentifier.default('bi_reader'),
  BI_READER_DB_PASSWORD: nonEmpty.default('bi-reader-local-only'),
  CDC_PUBLICATION: sqlIdentifier.default('sport_cdc'),

  KAFKA_BROKERS: z
    .string()
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
    .pipe(z.array(hostPort).min(1, 'expected at least one host:port'))
    .default(['127.0.0.1:9092']),
  KAFKA_CONTROLLER_PORT: port.default(9093),
  KAFKA_CLIENT_ID: nonEmpty.default('sport-lakehouse'),
  KAFKA_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected letters, digits, ".", "_" or "-"').default('sport'),
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(3),

  S3_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  S3_REGION: nonEmpty.default('us-east-1'),
  S3_ACCESS_KEY_ID: nonEmpty.default('lakehouse'),
  S3_SECRET_ACCESS_KEY: nonEmpty.default('lakehouse-local-only'),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name').default('lakehouse'),
  S3_FORCE_PATH_STYLE: bool.default(true),
  MINIO_CONSOLE_PORT: port.default(9001),

  LAKE_URL: z
    .string()
    .regex(/^(file:|s3:\/\/)/, 'expected file:<dir> or s3://<bucket>/<prefix>')
    .default('file:./lake'),

  // Slack notifier (services/slack-notifier). No webhook URL = dry-run (stdout + JSONL file).
  SLACK_WEBHOOK_URL: z.url().optional(),
  SLACK_DRY_RUN_FILE: nonEmpty.default('data/slack-dry-run.jsonl'),
  SLACK_CONSUMER_GROUP: nonEmpty.default('slack-notifier'),
  SLACK_RATE_PER_SECOND: z.coerce.number().positive().max(100).default(1),
  SLACK_BURST: z.coerce.number().int().min(1).max(100).default(1),
  SLACK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  SLACK_RETRY_MIN_MS: z.coerce.number().int().min(1).default(1_000),
  SLACK_RETRY_MAX_MS: z.coerce.number().int().min(1).default(60_000),
  SLACK_MAX_ACTIVITY_AGE_HOURS: z.coerce.number().min(0).default(24),

  // Distance worker (services/distance-worker). No API key = offline estimates.
  GOOGLE_MAPS_API_KEY: z.string().trim().min(1).optional(),
  DISTANCE_PROVIDER: z.enum(['routes', 'distance-matrix', 'offline']).optional(),
  GOOGLE_ROUTES_BASE_URL: z.url().default('https://routes.googleapis.com'),
  GOOGLE_MAPS_BASE_URL: z.url().default('https://maps.googleapis.com'),
  DISTANCE_CONSUMER_GROUP: nonEmpty.default('distance-worker'),
  DISTANCE_OTHER_MODES: z.enum(['compute', 'skip']).default('compute'),
  DISTANCE_DETOUR_FACTOR: z.coerce.number().min(1).max(3).default(1.3),
  DISTANCE_CACHE_TTL_DAYS: z.coerce.number().min(0).default(30),
  DISTANCE_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  DISTANCE_RETRY_MIN_MS: z.coerce.number().int().min(1).default(1_000),
  DISTANCE_RETRY_MAX_MS: z.coerce.number().int().min(1).default(300_000),
  DISTANCE_MAX_REQUESTS_PER_SECOND: z.coerce.number().positive().default(10),
  OFFICE_ADDRESS: nonEmpty.default('1362 Av. des Platanes, 34970 Lattes, France'),
  OFFICE_LAT: z.coerce.number().min(-90).max(90).default(43.567),
  OFFICE_LON: z.coerce.number().min(-180).max(180).default(3.899),

  // Bronze writer (services/bronze-writer). Writes to LAKE_URL.
  BRONZE_CONSUMER_GROUP: nonEmpty.default('bronze-writer'),
  BRONZE_TOPICS: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected comma-separated topic names')))
    .optional(),
  BRONZE_TOPIC_PATTERN: z
    .string()
    .refine((s) => { try { new RegExp(s); return true; } catch { return false; } }, 'expected a JavaScript regular expression')
    .optional(),
  BRONZE_MAX_ROWS: z.coerce.number().int().min(1).max(10_000_000).default(10_000),
  BRONZE_MAX_BYTES: z.coerce.number().int().min(1024).default(16 * 1024 * 1024),
  BRONZE_MAX_AGE_S: z.coerce.number().positive().default(60),
  BRONZE_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1024).default(32 * 1024 * 1024),
  BRONZE_UPLOAD_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  BRONZE_ENCODER_THREADS: z.coerce.number().int().min(0).max(16).default(0),
  BRONZE_TOPIC_REFRESH_S: z.coerce.number().positive().default(30),
  BRONZE_SHUTDOWN_TIMEOUT_S: z.coerce.number().positive().default(30),
  BRONZE_SESSION_TIMEOUT_S: z.coerce.number().min(6).max(300).default(30),
  BRONZE_PROGRESS_S: z.coerce.number().positive().default(10),
  BRONZE_TEST_CRASH_BEFORE_COMMIT: z.coerce.number().int().min(0).default(0),

  // CDC service (services/cdc, services/cdc/README.md).
  CDC_TABLES: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/, 'expected comma-separated [schema.]table names (lower-case SQL identifiers)')).min(1, 'expected at least one table'))
    .default(['public.employees', 'public.declared_sports', 'public.activities', 'public.commute_distances']),
  // 46 = 63 (NAMEDATALEN - 1) minus the "_snapshot_pending" suffix of the snapshot marker slot.
  CDC_SLOT_NAME: z.string().regex(/^[a-z0-9_]{1,46}$/, 'expected 1-46 lower-case letters, digits or "_"').default('sport_cdc_slot'),
  CDC_SNAPSHOT_MODE: z.enum(['initial', 'never']).default('initial'),
  CDC_SNAPSHOT_CHUNK_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  CDC_ADMIN_SETUP: bool.default(true),
  CDC_METRICS_HOST: nonEmpty.default('127.0.0.1'),
  CDC_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  CDC_RETRY_MAX_BACKOFF_S: z.coerce.number().min(0.1).max(3600).default(30),
  CDC_HEARTBEAT_INTERVAL_S: z.coerce.number().positive().max(3600).default(10),
  CDC_BATCH_MAX_EVENTS: z.coerce.number().int().min(1).max(1_000_000).default(2_000),
  CDC_LINGER_MS: z.coerce.number().int().min(0).max(10_000).default(2),
  CDC_COMPRESSION: z.enum(['none', 'gzip']).default('none'),
  CDC_MAX_PENDING_EVENTS: z.coerce.number().int().min(100).max(10_000_000).default(4_000),
  CDC_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(5).default(5),
  CDC_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(1_000_000),
  CDC_INTERVAL_HANDLING: z.enum(['iso8601', 'numeric']).default('iso8601'),

  // Batch job (services/batch, services/batch/README.md). Relative paths are from the repository root.
  BATCH_STATE_DIR: nonEmpty.default('data/batch'),
  BATCH_SILVER_DB: z.string().trim().min(1).optional(),
  BATCH_GOLD_DB: nonEmpty.default('data/gold.duckdb'),
  BATCH_RUN_LOG: z.string().trim().min(1).optional(),
  BATCH_REPORT_DIR: z.string().trim().min(1).optional(),
  BATCH_RULES_FILE: nonEmpty.default('products/sport-rewards/rules.json'),
  BATCH_THREADS: z.coerce.number().int().min(1).max(256).optional(),
  BATCH_MEMORY_LIMIT: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size such as "4GB"').optional(),
  BATCH_DOWNLOAD_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  BATCH_RECONCILE_SOURCE: bool.default(false),
  GOLD_PG_ENABLED: bool.default(true),
  GOLD_PG_DATABASE: sqlIdentifier.default('analytics'),
  GOLD_PG_SCHEMA: sqlIdentifier.default('gold'),

  // Orchestrated refresh (`npm run refresh -- --watch`, services/batch/watch.ts).
  REFRESH_MIN_INTERVAL_S: z.coerce.number().min(0).max(86_400).default(30),
  REFRESH_POLL_INTERVAL_S: z.coerce.number().min(0.1).max(3600).default(2),
  REFRESH_FULL_CRON: z.string().trim().default('0 3 * * *'),
  REFRESH_CRON_TIMEZONE: nonEmpty.default('UTC'),
  REFRESH_RETRY_MIN_BACKOFF_S: z.coerce.number().min(0).max(3600).default(5),
  REFRESH_RETRY_MAX_BACKOFF_S: z.coerce.number().min(0).max(86_400).default(300),
  REFRESH_WATERMARK_INTERVAL_S: z.coerce.number().min(0).max(86_400).default(300),
  REFRESH_CHECKPOINT_TIMEOUT_S: z.coerce.number().min(0).max(3600).default(10),

  // Monitor (services/monitor, services/monitor/README.md): /metrics, /healthz, /api/*, dashboard, alerts.
  MONITOR_HOST: nonEmpty.default('127.0.0.1'),
  MONITOR_PORT: z.coerce.number().int().min(0).max(65535).default(9400),
  MONITOR_INTERVAL_S: z.coerce.number().positive().max(3600).default(15),
  MONITOR_SERVICES: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(z.enum(['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker'])))
    .default(['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker']),
  MONITOR_CDC_METRICS_URL: z.url().optional(),
  MONITOR_STATE_FILE: nonEmpty.default('data/monitor/alert-state.json'),
  MONITOR_HISTORY_POINTS: z.coerce.number().int().min(2).max(100_000).default(240),
  ALERT_WEBHOOK_URL: z.url().optional(),
  ALERT_DRY_RUN_FILE: nonEmpty.default('data/alerts-dry-run.jsonl'),
  ALERT_LAG_THRESHOLD: z.coerce.number().int().min(0).default(1000),
  ALERT_SLOT_LAG_BYTES: z.coerce.number().int().min(0).default(64 * 1024 * 1024),
  ALERT_FOR_S: z.coerce.number().min(0).max(86_400).default(60),
  ALERT_GOLD_MAX_AGE_S: z.coerce.number().min(0).max(30 * 86_400).default(900),

  STACK_DIR: nonEmpty.default('.local/stack'),
  LAKEHOUSE_CACHE_DIR: z.string().optional(),
});

type Env = z.infer<typeof envSchema>;

/** Validated, typed configuration shared by every component. Units are in the field names. */
export interface Config {
  logLevel: Env['LOG_LEVEL'];
  postgres: {
    host: string;
    port: number;
    database: string;
    /** Owner of the schema: migrations and seeding only. */
    admin: { user: string; password: string };
    /** REPLICATION + SELECT on published tables only (created by the migrations / prepare-source). */
    cdc: { user: string; password: string };
    /** The simulator: employee ids and declared sports; writes activities. */
    simulator: { user: string; password: string };
    /** The distance worker: employees' home address and commute mode; writes commute distances and its cache. */
    distance: { user: string; password: string };
    /** The Slack notifier: employees' names; inserts into (never updates or deletes) its ledger. */
    notifier: { user: string; password: string };
    /** The monitor and `lakehouse status`: replication slot state only; no table, no REPLICATION. */
    monitor: { user: string; password: string };
    /** The batch's gold publisher: CREATE on the analytics database only (services/batch/pg-publish.ts). */
    publisher: { user: string; password: string };
    /** BI tools (Power BI): read-only, the gold views of the analytics database only. */
    biReader: { user: string; password: string };
    /** Publication the CDC service streams (created by the migrations). */
    publication: string;
  };
  kafka: {
    brokers: string[];
    controllerPort: number;
    clientId: string;
    topicPrefix: string;
    topicPartitions: number;
  };
  s3: {
    endpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    bucket: string;
    forcePathStyle: boolean;
    consolePort: number;
  };
  lakeUrl: string;
  stack: { dir: string; cacheDir: string };
  slack: {
    /** Incoming-webhook URL (a secret); undefined = dry-run. */
    webhookUrl: string | undefined;
    /** JSONL file the dry-run appends each message to (relative paths: from the repository root). */
    dryRunFile: string;
    consumerGroup: string;
    /** Sustained posts per second (Slack: about 1 per second per incoming webhook). */
    ratePerSecond: number;
    /** Posts allowed back to back before pacing applies. */
    burst: number;
    timeoutMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    /**
     * An insert whose activity ended more than this before its commit is an import of past
     * activities (history, backfill), not a new activity: it is not announced. Hours; 0 = no limit.
     */
    maxActivityAgeHours: number;
  };
  distance: {
    /** Google Maps Platform key (a secret); undefined = offline estimates. */
    apiKey: string | undefined;
    /** "routes" by default with a key, "offline" without one. */
    provider: 'routes' | 'distance-matrix' | 'offline';
    routesBaseUrl: string;
    mapsBaseUrl: string;
    consumerGroup: string;
    /** Commute modes other than walking/cycling: compute (driving/transit) or skip (no row). */
    otherModes: 'compute' | 'skip';
    /** Offline estimate = great-circle distance x this factor. */
    detourFactor: number;
    cacheTtlDays: number;
    timeoutMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    maxRequestsPerSecond: number;
    office: { address: string; lat: number; lon: number };
  };
  bronze: {
    consumerGroup: string;
    /** Explicit topic list; undefined = every topic matching `topicPattern`. */
    topics: string[] | undefined;
    /** Default `^<KAFKA_TOPIC_PREFIX>\.`; `<topic>.dlq` topics are never consumed. */
    topicPattern: RegExp;
    /** A file is written after this many rows, bytes or seconds, whichever comes first. */
    maxRows: number;
    maxBytes: number;
    maxAgeMs: number;
    /** Consumption pauses while buffered plus unwritten bytes exceed this. */
    maxBufferedBytes: number;
    uploadConcurrency: number;
    /** Worker threads decoding segments and encoding Parquet (one DuckDB each); 0 = on the main thread. */
    encoderThreads: number;
    topicRefreshMs: number;
    shutdownTimeoutMs: number;
    /** Kafka group session timeout: how long a crashed instance holds its partitions. */
    sessionTimeoutMs: number;
    /** How often a `progress` log line (counters, buffered bytes, memory) is written. */
    progressEveryMs: number;
    /** Test hook: 0 = off; N = SIGKILL itself after the N-th stored file, before committing its offsets. */
    crashBeforeCommitAfterFiles: number;
  };
  cdc: {
    /** Captured tables as "schema.table" (a bare name means public). */
    tables: { schema: string; table: string }[];
    slotName: string;
    /** initial: snapshot when the slot is new; never: stream only. */
    snapshotMode: 'initial' | 'never';
    snapshotChunkRows: number;
    /** Use the admin role (POSTGRES_USER) to create/alter the publication and grant SELECT when needed. */
    adminSetup: boolean;
    /** Interface of the /metrics and /healthz listener (127.0.0.1; 0.0.0.0 in a container). */
    metricsHost: string;
    /** HTTP port of /metrics (0 = any free port, logged). */
    metricsPort: number;
    /** Reconnection backoff after a PostgreSQL or broker failure is capped at this, milliseconds. */
    retryMaxBackoffMs: number;
    /** Standby status sent at least this often, and keepalives answered, so an idle slot advances. */
    heartbeatIntervalMs: number;
    /** Producer request size and wait, in events and milliseconds. */
    batchMaxEvents: number;
    lingerMs: number;
    compression: 'none' | 'gzip';
    /** Replication pauses while this many events wait for the broker's acknowledgement. */
    maxPendingEvents: number;
    /** Produce batches outstanding at once (1-5; Kafka's limit with the idempotent producer). */
    maxInFlight: number;
    /**
     * interval rendering: iso8601 (Debezium's interval.handling.mode=string, lossless) or numeric
     * (Debezium's default, µs with 30.4375-day months); recorded in every schema document.
     */
    intervalHandling: 'iso8601' | 'numeric';
    /** Larger values go to <topic>.dlq with a reason instead of the topic. */
    maxMessageBytes: number;
  };
  monitor: {
    /** Interface and port of the monitor's HTTP server (port 0 = any free port, logged). */
    host: string;
    port: number;
    /** Collection and alert evaluation period, milliseconds. */
    intervalMs: number;
    /** Services whose liveness /healthz reports and the service_down alert watches. */
    services: ('cdc' | 'bronze-writer' | 'slack-notifier' | 'distance-worker')[];
    /** CDC service's Prometheus endpoint; default http://127.0.0.1:<CDC_METRICS_PORT>/metrics (undefined when CDC_METRICS_PORT=0). */
    cdcMetricsUrl: string | undefined;
    /** JSON file keeping the alert states across restarts (so an incident is announced once). */
    stateFile: string;
    /** Samples kept in memory for the dashboard's pipeline charts. */
    historyPoints: number;
  };
  alerts: {
    /** Slack-compatible incoming webhook for alerts (a secret); undefined = dry-run (stdout + JSONL). */
    webhookUrl: string | undefined;
    dryRunFile: string;
    /** Consumer-group lag (messages, summed over partitions) above which consumer_lag fires. */
    lagThreshold: number;
    /** Replication slot lag (bytes) above which replication_slot_lag fires. */
    slotLagBytes: number;
    /** How long a service_down / lag condition must hold before it fires, milliseconds. */
    forMs: number;
    /** gold_stale fires when gold's figures are complete through a time older than this, ms. */
    goldMaxAgeMs: number;
  };
  batch: {
    /** Directory of the batch job's own state (silver-state.duckdb, run_log.jsonl, reports/, tmp/). */
    stateDir: string;
    /** DuckDB file holding silver (current state, history, quarantine) and run_log; default <stateDir>/silver-state.duckdb. */
    silverDb: string;
    /** gold.duckdb that Power BI reads; rebuilt aside and swapped in by rename. */
    goldDb: string;
    /** Append-only JSON-lines copy of run_log (one line per run, failed runs included). */
    runLogFile: string;
    /** Quality reports: <runId>.json and latest.json. */
    reportDir: string;
    /** Versioned business rules of the sport-rewards data product (products/sport-rewards/rules.json). */
    rulesFile: string;
    /** DuckDB worker threads; undefined = DuckDB's default (one per core). */
    threads: number | undefined;
    /** DuckDB memory_limit, e.g. "4GB"; undefined = DuckDB's default (80 % of RAM). */
    memoryLimit: string | undefined;
    /** Parallel downloads of bronze objects from an s3:// lake. */
    downloadConcurrency: number;
    /** Also compare silver row counts with PostgreSQL's tables (needs the cdc role's SELECT). */
    reconcileSource: boolean;
  };
  /** Gold served from PostgreSQL (services/batch/pg-publish.ts): where each successful refresh publishes gold. */
  goldPg: {
    /** false: gold.duckdb and gold Parquet only. */
    enabled: boolean;
    /** Analytics database (same server as POSTGRES_HOST; created by `npm run db:migrate`). */
    database: string;
    /** BI-facing schema of the views; `<schema>_store` holds the rows. */
    schema: string;
  };
  /** The orchestrated refresh (`npm run refresh -- --watch`, services/batch/watch.ts). */
  refresh: {
    /** Incremental runs start at most this often (debounce), ms. */
    minIntervalMs: number;
    /** How often bronze's committed position is polled for new objects, ms. */
    pollIntervalMs: number;
    /** Cron expression of the full refresh (5 or 6 fields, croner); '' = none. */
    fullCron: string;
    /** Time zone of the cron expression (IANA name). */
    cronTimezone: string;
    /** Backoff of a failed run's retries: first wait and cap, ms. */
    retryMinMs: number;
    retryMaxMs: number;
    /** With no new bronze objects, a run still starts this often to move the completeness watermark (0 = never), ms. */
    watermarkIntervalMs: number;
    /** How long a completeness checkpoint waits for the CDC to confirm the WAL position it read, ms. */
    checkpointTimeoutMs: number;
  };
}

let dotenvLoaded = false;

/** Reads `<repo>/.env` into process.env once, without overriding variables already set. */
function loadDotenvOnce(): void {
  if (dotenvLoaded) return;
  dotenvLoaded = true;
  const file = path.join(REPO_ROOT, '.env');
  if (existsSync(file)) dotenv.config({ path: file, override: false, quiet: true });
}

/**
 * Validates the environment and returns the configuration.
 *
 * @param env variables to read; defaults to process.env after `.env` has been merged in.
 * @throws ConfigError naming every invalid variable, e.g. `POSTGRES_PORT: expected number ...`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = defaultEnv()): Config {
  // Empty strings mean "unset", as in shell `FOO= cmd`, so defaults apply.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${String(i.path[0] ?? '?')}: ${i.message}${describeReceived(cleaned, i.path[0])}`),
    );
  }
  const e = parsed.data;
  const crossFieldIssues = [
    ...(e.DISTANCE_PROVIDER && e.DISTANCE_PROVIDER !== 'offline' && !e.GOOGLE_MAPS_API_KEY
      ? [`GOOGLE_MAPS_API_KEY: required when DISTANCE_PROVIDER=${e.DISTANCE_PROVIDER} (unset DISTANCE_PROVIDER for offline estimates)`]
      : []),
    ...(e.GOLD_PG_ENABLED && e.GOLD_PG_DATABASE === e.POSTGRES_DB
      ? [`GOLD_PG_DATABASE: must name a database dedicated to analytics, not the source database ${e.POSTGRES_DB} (BI readers connect to it)`]
      : []),
    ...(e.REFRESH_RETRY_MIN_BACKOFF_S > e.REFRESH_RETRY_MAX_BACKOFF_S ? ['REFRESH_RETRY_MIN_BACKOFF_S: must not exceed REFRESH_RETRY_MAX_BACKOFF_S'] : []),
    ...(e.SLACK_RETRY_MIN_MS > e.SLACK_RETRY_MAX_MS ? ['SLACK_RETRY_MIN_MS: must not exceed SLACK_RETRY_MAX_MS'] : []),
    ...(e.DISTANCE_RETRY_MIN_MS > e.DISTANCE_RETRY_MAX_MS ? ['DISTANCE_RETRY_MIN_MS: must not exceed DISTANCE_RETRY_MAX_MS'] : []),
  ];
  if (crossFieldIssues.length > 0) throw new ConfigError(crossFieldIssues);
  return {
    logLevel: e.LOG_LEVEL,
    postgres: {
      host: e.POSTGRES_HOST,
      port: e.POSTGRES_PORT,
      database: e.POSTGRES_DB,
      admin: { user: e.POSTGRES_USER, password: e.POSTGRES_PASSWORD },
      cdc: { user: e.CDC_DB_USER, password: e.CDC_DB_PASSWORD },
      simulator: { user: e.SIMULATOR_DB_USER, password: e.SIMULATOR_DB_PASSWORD },
      distance: { user: e.DISTANCE_DB_USER, password: e.DISTANCE_DB_PASSWORD },
      notifier: { user: e.NOTIFIER_DB_USER, password: e.NOTIFIER_DB_PASSWORD },
      monitor: { user: e.MONITOR_DB_USER, password: e.MONITOR_DB_PASSWORD },
      publisher: { user: e.GOLD_PUBLISHER_DB_USER, password: e.GOLD_PUBLISHER_DB_PASSWORD },
      biReader: { user: e.BI_READER_DB_USER, password: e.BI_READER_DB_PASSWORD },
      publication: e.CDC_PUBLICATION,
    },
    kafka: {
      brokers: e.KAFKA_BROKERS,
      controllerPort: e.KAFKA_CONTROLLER_PORT,
      clientId: e.KAFKA_CLIENT_ID,
      topicPrefix: e.KAFKA_TOPIC_PREFIX,
      topicPartitions: e.KAFKA_TOPIC_PARTITIONS,
    },
    s3: {
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
      bucket: e.S3_BUCKET,
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
      consolePort: e.MINIO_CONSOLE_PORT,
    },
    lakeUrl: e.LAKE_URL,
    stack: {
      dir: path.resolve(REPO_ROOT, e.STACK_DIR),
      cacheDir: e.LAKEHOUSE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? '/tmp', '.cache'), 'sport-lakehouse'),
    },
    slack: {
      webhookUrl: e.SLACK_WEBHOOK_URL,
      dryRunFile: path.resolve(REPO_ROOT, e.SLACK_DRY_RUN_FILE),
      consumerGroup: e.SLACK_CONSUMER_GROUP,
      ratePerSecond: e.SLACK_RATE_PER_SECOND,
      burst: e.SLACK_BURST,
      timeoutMs: e.SLACK_TIMEOUT_MS,
      retryMinMs: e.SLACK_RETRY_MIN_MS,
      retryMaxMs: e.SLACK_RETRY_MAX_MS,
      maxActivityAgeHours: e.SLACK_MAX_ACTIVITY_AGE_HOURS,
    },
    distance: {
      apiKey: e.GOOGLE_MAPS_API_KEY,
      provider: e.DISTANCE_PROVIDER ?? (e.GOOGLE_MAPS_API_KEY ? 'routes' : 'offline'),
      routesBaseUrl: e.GOOGLE_ROUTES_BASE_URL.replace(/\/+$/, ''),
      mapsBaseUrl: e.GOOGLE_MAPS_BASE_URL.replace(/\/+$/, ''),
      consumerGroup: e.DISTANCE_CONSUMER_GROUP,
      otherModes: e.DISTANCE_OTHER_MODES,
      detourFactor: e.DISTANCE_DETOUR_FACTOR,
      cacheTtlDays: e.DISTANCE_CACHE_TTL_DAYS,
      timeoutMs: e.DISTANCE_TIMEOUT_MS,
      retryMinMs: e.DISTANCE_RETRY_MIN_MS,
      retryMaxMs: e.DISTANCE_RETRY_MAX_MS,
      maxRequestsPerSecond: e.DISTANCE_MAX_REQUESTS_PER_SECOND,
      office: { address: e.OFFICE_ADDRESS, lat: e.OFFICE_LAT, lon: e.OFFICE_LON },
    },
    bronze: {
      consumerGroup: e.BRONZE_CONSUMER_GROUP,
      topics: e.BRONZE_TOPICS && e.BRONZE_TOPICS.length > 0 ? e.BRONZE_TOPICS : undefined,
      topicPattern: new RegExp(e.BRONZE_TOPIC_PATTERN ?? `^${e.KAFKA_TOPIC_PREFIX.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.`),
      maxRows: e.BRONZE_MAX_ROWS,
      maxBytes: e.BRONZE_MAX_BYTES,
      maxAgeMs: Math.round(e.BRONZE_MAX_AGE_S * 1000),
      maxBufferedBytes: e.BRONZE_MAX_BUFFERED_BYTES,
      uploadConcurrency: e.BRONZE_UPLOAD_CONCURRENCY,
      encoderThreads: e.BRONZE_ENCODER_THREADS,
      topicRefreshMs: Math.round(e.BRONZE_TOPIC_REFRESH_S * 1000),
      shutdownTimeoutMs: Math.round(e.BRONZE_SHUTDOWN_TIMEOUT_S * 1000),
      sessionTimeoutMs: Math.round(e.BRONZE_SESSION_TIMEOUT_S * 1000),
      progressEveryMs: Math.round(e.BRONZE_PROGRESS_S * 1000),
      crashBeforeCommitAfterFiles: e.BRONZE_TEST_CRASH_BEFORE_COMMIT,
    },
    cdc: {
      tables: e.CDC_TABLES.map((t) => {
        const [schema, table] = t.includes('.') ? t.split('.') : ['public', t];
        return { schema: schema!, table: table! };
      }),
      slotName: e.CDC_SLOT_NAME,
      snapshotMode: e.CDC_SNAPSHOT_MODE,
      snapshotChunkRows: e.CDC_SNAPSHOT_CHUNK_ROWS,
      adminSetup: e.CDC_ADMIN_SETUP,
      metricsHost: e.CDC_METRICS_HOST,
      metricsPort: e.CDC_METRICS_PORT,
      retryMaxBackoffMs: Math.round(e.CDC_RETRY_MAX_BACKOFF_S * 1000),
      heartbeatIntervalMs: Math.round(e.CDC_HEARTBEAT_INTERVAL_S * 1000),
      batchMaxEvents: e.CDC_BATCH_MAX_EVENTS,
      lingerMs: e.CDC_LINGER_MS,
      compression: e.CDC_COMPRESSION,
      maxPendingEvents: e.CDC_MAX_PENDING_EVENTS,
      maxInFlight: e.CDC_MAX_IN_FLIGHT,
      maxMessageBytes: e.CDC_MAX_MESSAGE_BYTES,
      intervalHandling: e.CDC_INTERVAL_HANDLING,
    },
    monitor: {
      host: e.MONITOR_HOST,
      port: e.MONITOR_PORT,
      intervalMs: Math.round(e.MONITOR_INTERVAL_S * 1000),
      services: [...new Set(e.MONITOR_SERVICES)],
      cdcMetricsUrl: e.MONITOR_CDC_METRICS_URL ?? (e.CDC_METRICS_PORT > 0 ? `http://127.0.0.1:${e.CDC_METRICS_PORT}/metrics` : undefined),
      stateFile: path.resolve(REPO_ROOT, e.MONITOR_STATE_FILE),
      historyPoints: e.MONITOR_HISTORY_POINTS,
    },
    alerts: {
      webhookUrl: e.ALERT_WEBHOOK_URL,
      dryRunFile: path.resolve(REPO_ROOT, e.ALERT_DRY_RUN_FILE),
      lagThreshold: e.ALERT_LAG_THRESHOLD,
      slotLagBytes: e.ALERT_SLOT_LAG_BYTES,
      forMs: Math.round(e.ALERT_FOR_S * 1000),
      goldMaxAgeMs: Math.round(e.ALERT_GOLD_MAX_AGE_S * 1000),
    },
    batch: (() => {
      const stateDir = path.resolve(REPO_ROOT, e.BATCH_STATE_DIR);
      return {
        stateDir,
        silverDb: path.resolve(REPO_ROOT, e.BATCH_SILVER_DB ?? path.join(stateDir, 'silver-state.duckdb')),
        goldDb: path.resolve(REPO_ROOT, e.BATCH_GOLD_DB),
        runLogFile: path.resolve(REPO_ROOT, e.BATCH_RUN_LOG ?? path.join(stateDir, 'run_log.jsonl')),
        reportDir: path.resolve(REPO_ROOT, e.BATCH_REPORT_DIR ?? path.join(stateDir, 'reports')),
        rulesFile: path.resolve(REPO_ROOT, e.BATCH_RULES_FILE),
        threads: e.BATCH_THREADS,
        memoryLimit: e.BATCH_MEMORY_LIMIT,
        downloadConcurrency: e.BATCH_DOWNLOAD_CONCURRENCY,
        reconcileSource: e.BATCH_RECONCILE_SOURCE,
      };
    })(),
    goldPg: { enabled: e.GOLD_PG_ENABLED, database: e.GOLD_PG_DATABASE, schema: e.GOLD_PG_SCHEMA },
    refresh: {
      minIntervalMs: Math.round(e.REFRESH_MIN_INTERVAL_S * 1000),
      pollIntervalMs: Math.round(e.REFRESH_POLL_INTERVAL_S * 1000),
      fullCron: e.REFRESH_FULL_CRON,
      cronTimezone: e.REFRESH_CRON_TIMEZONE,
      retryMinMs: Math.round(e.REFRESH_RETRY_MIN_BACKOFF_S * 1000),
      retryMaxMs: Math.round(e.REFRESH_RETRY_MAX_BACKOFF_S * 1000),
      watermarkIntervalMs: Math.round(e.REFRESH_WATERMARK_INTERVAL_S * 1000),
      checkpointTimeoutMs: Math.round(e.REFRESH_CHECKPOINT_TIMEOUT_S * 1000),
    },
  };
}

function defaultEnv(): NodeJS.ProcessEnv {
  loadDotenvOnce();
  return process.env;
}

const SECRET_VARIABLE = /PASSWORD|SECRET|TOKEN|KEY|WEBHOOK/;

/** Shows the rejected value, except for variables that hold secrets. */
function describeReceived(env: Record<string, unknown>, key: PropertyKey | undefined): string {
  if (typeof key !== 'string' || !(key in env)) return '';
  if (SECRET_VARIABLE.test(key)) return ' (value hidden)';
  return ` (got "${String(env[key])}")`;
}

/** The port of the first `host:port` in a broker list. */
export function firstBrokerPort(brokers: string[]): number {
  const first = brokers[0];
  if (!first) throw new ConfigError(['KAFKA_BROKERS: expected at least one host:port']);
  return Number(first.slice(first.lastIndexOf(':') + 1));
}

/** A PostgreSQL role of the platform: one per job (docs/security.md). */
export type PgRole = 'admin' | 'cdc' | 'simulator' | 'distance' | 'notifier' | 'monitor' | 'publisher' | 'biReader';

/** libpq-style connection settings for the `pg` driver, for one of the job roles. */
export function pgConnection(config: Config, role: PgRole, database = config.postgres.database) {
  const creds = config.postgres[role];
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
 * {@link loadConfig} for a service's entry point: a configuration error is printed as one
 * `<service>: Invalid configuration: ...` block naming each variable, and the process exits with
 * `exitCode` (2, "bad configuration", unless the service documents another) before any connection
 * opens. Other errors are rethrown.
 */
export function loadConfigOrExit(service: string, exitCode = 2): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${service}: ${err.message}`);
      process.exit(exitCode);
    }
    throw err;
  }
}
