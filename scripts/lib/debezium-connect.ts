/**
 * Debezium's PostgreSQL connector on Kafka Connect standalone, run as a child process: the peer
 * the CDC service is measured against (`npm run bench -- cdc --peer debezium`) and compared with
 * field by field (services/cdc/debezium-compat.int.test.ts).
 *
 * Versions are pinned by scripts/install-services (infra/debezium/pom.xml): Debezium 3.6.1.Final on
 * Kafka Connect 4.3.0, both from Maven Central, cached in `<cache>/debezium-<v>-connect-<v>` with
 * `connect/` (the worker's classpath) and `plugins/debezium-connector-postgres/` (the plugin folder,
 * without Kafka, Jackson or SLF4J jars, as Debezium's own plugin archive).
 *
 * Runtime: the `java` on PATH (or `DEBEZIUM_JAVA`). Connect 4.3 and Debezium 3.6 are compiled for
 * Java 17 (class file version 61) and Kafka 4 supports 17 and later, so the machine's Java 17 is
 * enough; the JVM flags are those of Kafka's `connect-standalone.sh` (`-Xms256M -Xmx2G`, G1), so the
 * figures are those of a stock installation.
 *
 * The worker uses the JSON converter with `schemas.enable=false` for keys and values, the form of
 * docs/contracts/change-events.md; offsets go to a file in the run's directory. The connector is
 * configured like the CDC service (pgoutput, an existing publication, `decimal.handling.mode=string`),
 * everything else is Debezium's default unless the caller overrides it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../services/common/config.ts';
import { MissingBinaryError, readServicesEnv } from './stack.ts';
import { processCpuMicros, processRss } from './proc-stats.ts';

/** Pinned versions; scripts/install-services installs the same. */
export const DEBEZIUM_VERSION = '3.6.1.Final';
export const CONNECT_VERSION = '4.3.0';

/** Where the install put the worker's jars and the plugin folder. */
export interface DebeziumInstall {
  home: string;
  /** Directory of the Connect worker's jars (the classpath). */
  connectLibs: string;
  /** Connect's `plugin.path` (holds `debezium-connector-postgres/`). */
  pluginPath: string;
}

/**
 * Locates the installed Connect worker and Debezium plugin: `DEBEZIUM_HOME`, else the one recorded in
 * `<cache>/services.env`, else the pinned versions' folder in the cache.
 * @throws MissingBinaryError naming what is missing and the install command.
 */
export function resolveDebezium(config: Config): DebeziumInstall {
  const recorded = readServicesEnv(config.stack.cacheDir);
  const home = process.env.DEBEZIUM_HOME ?? recorded.DEBEZIUM_HOME ?? path.join(config.stack.cacheDir, `debezium-${DEBEZIUM_VERSION}-connect-${CONNECT_VERSION}`);
  const connectLibs = path.join(home, 'connect');
  const pluginPath = path.join(home, 'plugins');
  const has = (dir: string, re: RegExp) => existsSync(dir) && readdirSync(dir).some((f) => re.test(f));
  if (!has(connectLibs, /^connect-runtime-.*\.jar$/)) throw new MissingBinaryError('Kafka Connect jars (connect-runtime-*.jar)', connectLibs);
  if (!has(path.join(pluginPath, 'debezium-connector-postgres'), /^debezium-connector-postgres-.*\.jar$/)) {
    throw new MissingBinaryError('Debezium PostgreSQL connector (debezium-connector-postgres-*.jar)', path.join(pluginPath, 'debezium-connector-postgres'));
  }
  return { home, connectLibs, pluginPath };
}

/** One Debezium connector run. */
export interface DebeziumRunOptions {
  /** Working directory of the run (properties, offsets file, log); created. */
  dir: string;
  /** Connect's REST listener port (Connect cannot run without one); keep it in your port range. */
  restPort: number;
  /** `topic.prefix`: topics are `<prefix>.<schema>.<table>`, `source.name` is the prefix. */
  topicPrefix: string;
  /** Logical replication slot; Debezium creates it when missing and reuses an existing one. */
  slot: string;
  /** An existing publication (`publication.autocreate.mode=disabled`). */
  publication: string;
  /** `schema.table` names (`table.include.list`, regular expressions: dots are escaped here). */
  tables: string[];
  /** `initial` (snapshot, then stream) or `no_data` (stream from the slot's position). */
  snapshotMode: 'initial' | 'no_data';
  /** Partitions of the topics Connect creates (`topic.creation.default.partitions`). */
  partitions: number;
  /** Further connector settings (override the ones above). */
  connector?: Record<string, string>;
  /** PostgreSQL role; default the CDC role (`CDC_DB_USER`: REPLICATION and SELECT). */
  role?: 'cdc' | 'admin';
}

const LOG4J = [
  'log4j.rootLogger=WARN, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  // The lines the runner waits for: Connect is up, the snapshot is done, streaming has begun.
  'log4j.logger.org.apache.kafka.connect.runtime.Connect=INFO',
  'log4j.logger.io.debezium.connector.postgresql.PostgresStreamingChangeEventSource=INFO',
  'log4j.logger.io.debezium.relational.RelationalSnapshotChangeEventSource=INFO',
  '',
].join('\n');

/** The JVM flags of Kafka's bin/connect-standalone.sh and bin/kafka-run-class.sh. */
export const CONNECT_JVM_FLAGS = [
  '-Xms256M', '-Xmx2G',
  '-server', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:InitiatingHeapOccupancyPercent=35', '-XX:+ExplicitGCInvokesConcurrent',
  '-Djava.awt.headless=true',
];

/** Marker Debezium logs when it starts reading the replication stream (after any snapshot). */
const STREAMING_MARKER = 'Processing messages';

/**
 * SASL settings of the worker and of its producer, consumer and admin clients: Connect
 * authenticates as the Kafka admin principal (it is a test and benchmark peer, not a service of
 * the platform; docs/security.md). Empty when KAFKA_SASL_MECHANISM=none.
 */
function kafkaClientSecurity(config: Config): Record<string, string> {
  const { mechanism, tls } = config.kafka.security;
  if (mechanism === 'none') return {};
  const { username, password } = config.kafka.principals.admin;
  const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const client = {
    'security.protocol': tls ? 'SASL_SSL' : 'SASL_PLAINTEXT',
    'sasl.mechanism': mechanism,
    'sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username=${quote(username)} password=${quote(password)};`,
  };
  return Object.fromEntries(['', 'producer.', 'consumer.', 'admin.'].flatMap((prefix) => Object.entries(client).map(([k, v]) => [`${prefix}${k}`, v])));
}

function properties(entries: Record<string, string | number>): string {
  // java.util.Properties: backslash escapes; values here are names, numbers, paths and passwords.
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return `${Object.entries(entries).map(([k, v]) => `${k}=${escape(String(v))}`).join('\n')}\n`;
}

/** A running Kafka Connect worker with one Debezium PostgreSQL connector. */
export class DebeziumConnect {
  private output = '';
  private readonly exitedPromise: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
    readonly options: DebeziumRunOptions,
  ) {
    this.exitedPromise = new Promise((resolve) => child.once('exit', (code) => {
      this.exitCode = code;
      resolve(code);
    }));
    const log = openSync(logFile, 'a');
    const onData = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > 1_000_000) this.output = this.output.slice(-500_000);
      writeFileSync(log, d);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void this.exitedPromise.then(() => closeSync(log));
  }

  /**
   * Writes the worker and connector properties into `options.dir` and starts Connect standalone
   * (`org.apache.kafka.connect.cli.ConnectStandalone worker.properties connector.properties`).
   * Returns at once; {@link waitStreaming} waits until Debezium reads the replication stream.
   * @throws MissingBinaryError when the install is missing.
   */
  static start(config: Config, options: DebeziumRunOptions): DebeziumConnect {
    const install = resolveDebezium(config);
    mkdirSync(options.dir, { recursive: true });
    const role = options.role === 'admin' ? config.postgres.admin : config.postgres.cdc;
    const worker = {
      'bootstrap.servers': config.kafka.brokers.join(','),
      'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable': 'false',
      'value.converter.schemas.enable': 'false',
      'offset.storage.file.filename': path.join(options.dir, 'offsets.dat'),
      'offset.flush.interval.ms': 1000,
      'plugin.path': install.pluginPath,
      'plugin.discovery': 'service_load',
      listeners: `http://127.0.0.1:${options.restPort}`,
      ...kafkaClientSecurity(config),
    };
    const connector = {
      name: `debezium-${options.topicPrefix}`,
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'tasks.max': 1,
      'database.hostname': config.postgres.host,
      'database.port': config.postgres.port,
      'database.user': role.user,
      'database.password': role.password,
      'database.dbname': config.postgres.database,
      'topic.prefix': options.topicPrefix,
      'plugin.name': 'pgoutput',
      'slot.name': options.slot,
      'publication.name': options.publication,
      'publication.autocreate.mode': 'disabled',
      'table.include.list': options.tables.map((t) => t.replace(/\./g, '\\.')).join(','),
      'snapshot.mode': options.snapshotMode,
      'decimal.handling.mode': 'string',
      'topic.creation.default.replication.factor': 1,
      'topic.creation.default.partitions': options.partitions,
      ...options.connector,
    };
    const workerFile = path.join(options.dir, 'worker.properties');
    const connectorFile = path.join(options.dir, 'connector.properties');
    const log4jFile = path.join(options.dir, 'log4j.properties');
    // The worker's file holds the Kafka admin's password.
    writeFileSync(workerFile, properties(worker), { mode: 0o600 });
    writeFileSync(connectorFile, properties(connector), { mode: 0o600 });
    writeFileSync(log4jFile, LOG4J);
    const java = process.env.DEBEZIUM_JAVA ?? 'java';
    const child = spawn(
      java,
      [...CONNECT_JVM_FLAGS, `-Dlog4j.configuration=file:${log4jFile}`, '-cp', `${install.connectLibs}/*`, 'org.apache.kafka.connect.cli.ConnectStandalone', workerFile, connectorFile],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new DebeziumConnect(child, path.join(options.dir, 'connect.log'), options);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves when Debezium streams (after its snapshot, if any). @throws if Connect exits or after `timeoutMs`. */
  async waitStreaming(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.output.includes(STREAMING_MARKER)) return;
      if (this.exitCode !== undefined) throw new Error(`Kafka Connect exited (${this.exitCode}) before streaming; log ${this.logFile}:\n${this.output.slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`Debezium not streaming after ${timeoutMs} ms; log ${this.logFile}:\n${this.output.slice(-4000)}`);
      const failure = /\bERROR\b.*/.exec(this.output);
      if (failure) throw new Error(`Debezium failed: ${failure[0]}; log ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** True while the JVM runs. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** utime + stime of the JVM so far, in microseconds (Linux /proc, USER_HZ = 100). */
  cpuMicros(): number {
    return processCpuMicros(this.pid);
  }

  /** Resident set size of the JVM, bytes. */
  rss(): number {
    return processRss(this.pid);
  }

  /** The log so far (last 500 kB at most). */
  log(): string {
    return this.output;
  }

  /** SIGTERM (Connect commits its offsets and stops the task), SIGKILL after `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }
}
