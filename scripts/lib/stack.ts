/**
 * The local stack without Docker: a real PostgreSQL (wal_level=logical), a real Apache Kafka
 * broker in KRaft mode and a real MinIO, run as background processes with their data under
 * `STACK_DIR` (default `.local/stack`, ignored by git).
 *
 * - {@link stackUp} starts whatever is not running yet, waits until each server answers a real
 *   health check (SQL query, Kafka metadata request, MinIO readiness probe) and returns endpoints.
 * - {@link stackDown} stops only the processes recorded in `<STACK_DIR>/state.json`, by pid, after
 *   checking that the pid still runs the program it started (pids get reused).
 * - {@link stackReset} stops and then deletes `STACK_DIR`.
 *
 * Binaries come from `scripts/install-services` (recorded in `<cache>/services.env`) or from the
 * PG_BIN_DIR, KAFKA_HOME and MINIO_BIN variables. A missing one raises {@link MissingBinaryError}
 * naming it and the install command.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, closeSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { KafkaAdmin } from '../../services/common/kafka/index.ts';
import { applyKafkaAccess } from '../../services/common/kafka/access.ts';
import { createLogger } from '../../services/common/logger.ts';
import pg from 'pg';
import { firstBrokerPort, type Config } from '../../services/common/config.ts';
import { createS3Client } from '../../services/common/s3.ts';

export const INSTALL_COMMAND = 'bash scripts/install-services';

export class MissingBinaryError extends Error {
  constructor(what: string, looked: string) {
    super(`${what} not found (looked in ${looked}). Install it with: ${INSTALL_COMMAND}`);
    this.name = 'MissingBinaryError';
  }
}

export class StackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackError';
  }
}

export type ServiceName = 'postgres' | 'kafka' | 'minio';
const SERVICES: ServiceName[] = ['postgres', 'kafka', 'minio'];

interface ProcessRecord {
  pid: number;
  /** A string the process's /proc/<pid>/cmdline must contain for the pid to still be ours. */
  cmdlineMarker: string;
  port: number;
  startedAt: string;
}
type StackState = Partial<Record<ServiceName, ProcessRecord>>;

export interface Endpoints {
  postgres: string;
  kafka: string;
  s3: string;
  minioConsole: string;
}

export interface ServiceStatus {
  service: ServiceName;
  pid: number | null;
  running: boolean;
  healthy: boolean;
  endpoint: string;
  detail?: string;
}

type Say = (line: string) => void;

// ------------------------------------------------------------------------------------------------
// Binaries

interface Binaries {
  pgBinDir: string;
  kafkaLibs: string;
  minio: string;
}

/** The KEY=value lines scripts/install-services recorded in `<cache>/services.env` ({} when absent). */
export function readServicesEnv(cacheDir: string): Record<string, string> {
  const file = path.join(cacheDir, 'services.env');
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

function newestPgBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => path.join(base, v, 'bin')).find((d) => existsSync(path.join(d, 'postgres')));
}

/** Locates the three servers' binaries. @throws MissingBinaryError naming the missing one. */
export function resolveBinaries(config: Config, which: ServiceName[] = SERVICES): Binaries {
  const recorded = readServicesEnv(config.stack.cacheDir);
  const pgBinDir = process.env.PG_BIN_DIR ?? recorded.PG_BIN_DIR ?? newestPgBinDir() ?? '';
  const kafkaHome = process.env.KAFKA_HOME ?? recorded.KAFKA_HOME ?? '';
  const minio = process.env.MINIO_BIN ?? recorded.MINIO_BIN ?? '';
  if (which.includes('postgres') && !existsSync(path.join(pgBinDir, 'postgres'))) {
    throw new MissingBinaryError('PostgreSQL server binary "postgres"', pgBinDir || 'PG_BIN_DIR, /usr/lib/postgresql/*/bin');
  }
  const kafkaLibs = path.join(kafkaHome, 'libs');
  if (which.includes('kafka') && !(existsSync(kafkaLibs) && readdirSync(kafkaLibs).some((f) => /^kafka_2\.13-.*\.jar$/.test(f)))) {
    throw new MissingBinaryError('Apache Kafka jars (kafka_2.13-*.jar)', kafkaLibs || 'KAFKA_HOME/libs');
  }
  if (which.includes('kafka') && spawnSync('java', ['-version']).status !== 0) {
    throw new MissingBinaryError('java (needed to run Kafka)', 'PATH');
  }
  if (which.includes('minio') && !existsSync(minio)) {
    throw new MissingBinaryError('MinIO server binary "minio"', minio || 'MINIO_BIN');
  }
  return { pgBinDir, kafkaLibs, minio };
}

// ------------------------------------------------------------------------------------------------
// State and process helpers

function statePath(config: Config): string {
  return path.join(config.stack.dir, 'state.json');
}

function readState(config: Config): StackState {
  try {
    return JSON.parse(readFileSync(statePath(config), 'utf8')) as StackState;
  } catch {
    return {};
  }
}

function writeState(config: Config, state: StackState): void {
  mkdirSync(config.stack.dir, { recursive: true });
  writeFileSync(statePath(config), JSON.stringify(state, null, 2));
}

/** True when `pid` is alive and still runs the program we started (its cmdline has the marker). */
export function isOurProcess(record: ProcessRecord | undefined): boolean {
  if (!record) return false;
  try {
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmdline.includes(record.cmdlineMarker);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>, alive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (alive && !alive()) throw new StackError(`${what} exited during start-up${lastError ? ` (${lastError})` : ''}`);
    await sleep(250);
  }
  throw new StackError(`${what} not healthy after ${timeoutMs / 1000} s${lastError ? `: ${lastError}` : ''}`);
}

function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function assertPortFree(service: string, host: string, port: number, variable: string): Promise<void> {
  if (await portInUse(host, port)) {
    throw new StackError(`${service}: port ${port} on ${host} is already used by another process; stop it or set ${variable} to a free port`);
  }
}

/**
 * Signal that stops a server: PostgreSQL gets SIGINT, its "fast shutdown" (clients are
 * disconnected, a shutdown checkpoint is written; SIGTERM is the "smart" mode, which waits for
 * every client to leave and so ended in SIGKILL and crash recovery while services were connected);
 * the others SIGTERM.
 */
function stopSignal(name: ServiceName): NodeJS.Signals {
  return name === 'postgres' ? 'SIGINT' : 'SIGTERM';
}

/** Waits up to `timeoutMs` for the process of `record` to be gone. @returns true once it is. */
async function waitGone(record: ProcessRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isOurProcess(record)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Stops the process of `record` with `signal`, SIGKILL after `timeoutMs`, and returns only once
 * it is gone (a restart right after must not find the old process still holding its ports).
 * @throws StackError when it survives SIGKILL for 10 s.
 */
async function stopPid(record: ProcessRecord, signal: NodeJS.Signals, timeoutMs = 30_000, say: Say = () => undefined): Promise<void> {
  if (!isOurProcess(record)) return;
  process.kill(record.pid, signal);
  if (await waitGone(record, timeoutMs)) return;
  // Said out loud: for PostgreSQL it means crash recovery at the next start.
  say(`pid ${record.pid} still running ${timeoutMs / 1000} s after ${signal}: killing it (SIGKILL)`);
  process.kill(record.pid, 'SIGKILL');
  if (!(await waitGone(record, 10_000))) throw new StackError(`pid ${record.pid} still running 10 s after SIGKILL`);
}

/** The TCP ports a server of the stack listens on. */
function servicePorts(config: Config, name: ServiceName): { host: string; port: number }[] {
  switch (name) {
    case 'postgres':
      return [{ host: config.postgres.host, port: config.postgres.port }];
    case 'kafka': {
      const host = config.kafka.brokers[0]!.split(':')[0]!;
      return [{ host, port: firstBrokerPort(config.kafka.brokers) }, { host, port: config.stack.kafkaControllerPort }];
    }
    case 'minio': {
      const host = new URL(config.s3.endpoint).hostname;
      return [{ host, port: s3Port(config) }, { host, port: config.stack.minioConsolePort }];
    }
  }
}

/** Waits up to `timeoutMs` until nothing accepts connections on the ports of `name`. @returns true once free. */
async function waitPortsFree(config: Config, name: ServiceName, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const used = await Promise.all(servicePorts(config, name).map(({ host, port }) => portInUse(host, port)));
    if (!used.some(Boolean)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(200);
  }
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL

const isRoot = () => process.getuid?.() === 0;

/** PostgreSQL refuses to run as root: as root, run its programs as the `postgres` OS user. */
function pgCommand(bin: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

function run(cmd: string, args: string[], what: string, cwd?: string): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', cwd });
  if (res.status !== 0) {
    throw new StackError(`${what} failed (exit ${res.status}): ${(res.stderr || res.stdout || String(res.error ?? '')).trim()}`);
  }
  return res.stdout;
}

/**
 * The PostgreSQL directory. As root, the server runs as `postgres`, which may not be able to
 * traverse the checkout's parents (e.g. under /root); then the data lives under /var/tmp and
 * `.local/.../postgres` is a symlink to it, so it is still found and wiped from `.local/`.
 */
function preparePgDir(config: Config): string {
  const dir = path.join(config.stack.dir, 'postgres');
  if (!isRoot()) {
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  mkdirSync(config.stack.dir, { recursive: true });
  const exists = existsSync(dir) || (() => { try { lstatSync(dir); return true; } catch { return false; } })();
  if (!exists) {
    const traversable = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', config.stack.dir]).status === 0 ||
      spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', config.stack.dir]).status === 0;
    if (traversable) {
      mkdirSync(dir, { recursive: true });
    } else {
      const target = path.join('/var/tmp/sport-lakehouse', randomBytes(6).toString('hex'), 'postgres');
      mkdirSync(target, { recursive: true });
      symlinkSync(target, dir);
    }
  }
  // The server and its tools get the real path: the `postgres` user may not traverse the link's parents.
  const real = realpathSync(dir);
  run('chown', ['-R', 'postgres:postgres', real], 'chown of the PostgreSQL directory');
  return real;
}

async function pgHealthy(config: Config): Promise<boolean> {
  const client = new pg.Client({
    host: config.postgres.host,
    port: config.postgres.port,
    user: config.postgres.admin.user,
    password: config.postgres.admin.password,
    database: 'postgres',
    connectionTimeoutMillis: 2000,
  });
  try {
    await client.connect();
    const res = await client.query<{ wal_level: string }>('SHOW wal_level');
    return res.rows[0]?.wal_level === 'logical';
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The local stack's pg_hba.conf, written on every start (docs/security.md). Password (SCRAM)
 * authentication everywhere, and least privilege for replication:
 * - physical replication connections (pg_basebackup, streaming standbys) are for the admin role
 *   only: every other role, the CDC roles included, is refused, so REPLICATION cannot copy the
 *   cluster (PostgreSQL's `replication` keyword matches physical connections only);
 * - the CDC role (CDC_DB_USER) connects, for logical replication and SQL, to POSTGRES_DB only.
 * A role prepare-source creates for another database is covered by the first rule; keeping it
 * on its own database is a line of the same form (docs/guides/capture-another-database.md).
 */
export function pgHbaConf(config: Config): string {
  const { admin, cdc, database } = config.postgres;
  const hosts = ['127.0.0.1/32', '::1/128'];
  const lines = [
    '# Written by `npm run stack -- up` (scripts/lib/stack.ts, pgHbaConf) on every start; edit that instead.',
    '# TYPE  DATABASE      USER          ADDRESS          METHOD',
    `local   all           all                            scram-sha-256`,
    ...hosts.map((h) => `host    replication   ${admin.user.padEnd(13)} ${h.padEnd(16)} scram-sha-256`),
    '# No other role may open a physical replication connection (a base backup copies the whole cluster).',
    ...hosts.map((h) => `host    replication   all           ${h.padEnd(16)} reject`),
    '# The CDC role reaches its own database only.',
    ...hosts.map((h) => `host    ${database.padEnd(13)} ${cdc.user.padEnd(13)} ${h.padEnd(16)} scram-sha-256`),
    ...hosts.map((h) => `host    all           ${cdc.user.padEnd(13)} ${h.padEnd(16)} reject`),
    ...hosts.map((h) => `host    all           all           ${h.padEnd(16)} scram-sha-256`),
  ];
  return `${lines.join('\n')}\n`;
}

async function startPostgres(config: Config, bins: Binaries, say: Say): Promise<ProcessRecord> {
  const dir = preparePgDir(config);
  const data = path.join(dir, 'data');
  const socketDir = path.join(dir, 'socket');
  const logFile = path.join(dir, 'postgres.log');
  if (!existsSync(path.join(data, 'PG_VERSION'))) {
    say(`postgres: initdb ${data}`);
    const pwfile = path.join(dir, '.pwfile');
    writeFileSync(pwfile, config.postgres.admin.password, { mode: 0o600 });
    if (isRoot()) run('chown', ['postgres:postgres', pwfile], 'chown of the password file');
    try {
      const [cmd, args] = pgCommand(path.join(bins.pgBinDir, 'initdb'), [
        '-D', data, '-U', config.postgres.admin.user, `--pwfile=${pwfile}`,
        '--auth-host=scram-sha-256', '--auth-local=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8',
      ]);
      run(cmd, args, 'initdb', dir);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  writeFileSync(path.join(data, 'pg_hba.conf'), pgHbaConf(config), { mode: 0o600 });
  if (isRoot()) run('chown', ['postgres:postgres', path.join(data, 'pg_hba.conf')], 'chown of pg_hba.conf');
  mkdirSync(socketDir, { recursive: true });
  if (isRoot()) run('chown', ['-R', 'postgres:postgres', socketDir], 'chown of the socket directory');
  await assertPortFree('postgres', config.postgres.host, config.postgres.port, 'POSTGRES_PORT');
  const serverOptions = [
    `-c port=${config.postgres.port}`,
    `-c listen_addresses=${config.postgres.host}`,
    `-c unix_socket_directories=${socketDir}`,
    '-c wal_level=logical',
    '-c max_replication_slots=20',
    '-c max_wal_senders=20',
    '-c max_connections=200',
    '-c shared_buffers=256MB',
    '-c max_wal_size=4GB',
    // A slot that falls this far behind is invalidated rather than filling the disk.
    '-c max_slot_wal_keep_size=16GB',
    '-c wal_sender_timeout=60s',
  ].join(' ');
  const [cmd, args] = pgCommand(path.join(bins.pgBinDir, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start']);
  run(cmd, args, `pg_ctl start (see ${logFile})`, dir);
  const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const record: ProcessRecord = { pid, cmdlineMarker: data, port: config.postgres.port, startedAt: new Date().toISOString() };
  await waitUntil('postgres', 60_000, () => pgHealthy(config), () => isOurProcess(record));
  return record;
}

// ------------------------------------------------------------------------------------------------
// Kafka (KRaft, single node acting as broker and controller)

/** A value for a JAAS option or a StorageTool SCRAM argument, which are double-quoted. @throws StackError naming the variable. */
function quotable(value: string, variable: string): string {
  if (/["\\\n\r]/.test(value)) throw new StackError(`${variable}: the local stack cannot use a value holding a double quote, a backslash or a line break`);
  return value;
}

/** The SASL mechanism of the local stack. @throws StackError when KAFKA_SASL_MECHANISM=none. */
function stackMechanism(config: Config): 'SCRAM-SHA-256' | 'SCRAM-SHA-512' {
  const m = config.kafka.security.mechanism;
  if (m === 'none') throw new StackError('KAFKA_SASL_MECHANISM=none: the local stack runs Kafka with SASL/SCRAM and ACLs; set SCRAM-SHA-256 or SCRAM-SHA-512');
  if (config.kafka.security.tls) throw new StackError('KAFKA_TLS=true: the local stack listens with SASL_PLAINTEXT on loopback (TLS: docs/security.md)');
  return m;
}

/**
 * server.properties of the local broker (docs/security.md, "Kafka"): one SASL_PLAINTEXT client
 * listener on the configured loopback address (SCRAM, KAFKA_SASL_MECHANISM), the KRaft
 * controller listener on its own port with SASL/PLAIN for the broker alone, the StandardAuthorizer
 * with the admin principal as the only super user and no access where no ACL grants it. The
 * admin's password is in this file (mode 0600, under STACK_DIR, ignored by git).
 */
export function kafkaProperties(config: Config, dataDir: string): string {
  const host = config.kafka.brokers[0]!.split(':')[0]!;
  const port = firstBrokerPort(config.kafka.brokers);
  const ctl = config.stack.kafkaControllerPort;
  const mechanism = stackMechanism(config);
  const admin = config.kafka.principals.admin;
  const user = quotable(admin.username, 'KAFKA_ADMIN_USER');
  const password = quotable(admin.password, 'KAFKA_ADMIN_PASSWORD');
  const scramModule = 'org.apache.kafka.common.security.scram.ScramLoginModule';
  const plainModule = 'org.apache.kafka.common.security.plain.PlainLoginModule';
  return [
    '# Written by `npm run stack -- up`; edit STACK settings in .env rather than this file.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${host}:${ctl}`,
    `listeners=SASL_PLAINTEXT://${host}:${port},CONTROLLER://${host}:${ctl}`,
    `advertised.listeners=SASL_PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT',
    'inter.broker.listener.name=SASL_PLAINTEXT',
    // Clients: SCRAM only (credentials in the cluster metadata, created by the admin).
    `listener.name.sasl_plaintext.sasl.enabled.mechanisms=${mechanism}`,
    `sasl.mechanism.inter.broker.protocol=${mechanism}`,
    `listener.name.sasl_plaintext.${mechanism.toLowerCase()}.sasl.jaas.config=${scramModule} required username="${user}" password="${password}";`,
    // The controller listener: the broker alone, with a static PLAIN user (SCRAM credentials live
    // in the metadata the controller serves, so they cannot guard it).
    'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
    'sasl.mechanism.controller.protocol=PLAIN',
    `listener.name.controller.plain.sasl.jaas.config=${plainModule} required username="${user}" password="${password}" user_${user}="${password}";`,
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    `super.users=User:${user}`,
    'allow.everyone.if.no.acl.found=false',
    `log.dirs=${dataDir}`,
    `num.partitions=${config.kafka.topicPartitions}`,
    // Topics are created explicitly by their producers, with the configured partition count.
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Replay from offset zero needs the whole history: keep it (size-bounded below).
    'log.retention.ms=-1',
    'log.retention.bytes=10737418240',
    'message.max.bytes=10485760',
    '',
  ].join('\n');
}

/** What the storage was formatted with (kafka/security.json): SCRAM users exist only if it says so. */
interface KafkaStorageSecurity {
  mechanism: string;
  adminUser: string;
}

const KAFKA_LOG4J = [
  'log4j.rootLogger=WARN, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  'log4j.logger.kafka.server.KafkaRaftServer=INFO',
  '',
].join('\n');

async function kafkaHealthy(config: Config): Promise<boolean> {
  // Probed until the broker answers: a refused connection is the expected answer meanwhile, not worth a log line.
  const admin = KafkaAdmin.create(asKafkaAdmin(config), 'stack-health', createLogger('stack', 'silent'), { connectTimeout: 2000, retries: 0 });
  try {
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller >= 0;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** The configuration with the admin as the Kafka identity (the stack's own clients). */
function asKafkaAdmin(config: Config): Config {
  return { ...config, kafka: { ...config.kafka, as: 'admin' } };
}

function kafkaDir(config: Config): string {
  return path.join(config.stack.dir, 'kafka');
}

/** True when the running broker was started with other settings than `config` gives now. */
function kafkaSettingsChanged(config: Config): boolean {
  const dir = kafkaDir(config);
  try {
    return readFileSync(path.join(dir, 'server.properties'), 'utf8') !== kafkaProperties(config, path.join(dir, 'data'));
  } catch {
    return true;
  }
}

async function startKafka(config: Config, bins: Binaries, say: Say, options: StackOptions = {}): Promise<ProcessRecord> {
  const dir = kafkaDir(config);
  const dataDir = path.join(dir, 'data');
  mkdirSync(dir, { recursive: true });
  const propsFile = path.join(dir, 'server.properties');
  writeFileSync(propsFile, kafkaProperties(config, dataDir), { mode: 0o600 });
  chmodSync(propsFile, 0o600);
  writeFileSync(path.join(dir, 'log4j.properties'), KAFKA_LOG4J);
  const classpath = `${bins.kafkaLibs}/*`;
  const securityFile = path.join(dir, 'security.json');
  const mechanism = stackMechanism(config);
  const admin = config.kafka.principals.admin;
  if (existsSync(path.join(dataDir, 'meta.properties'))) {
    let formatted: KafkaStorageSecurity | null = null;
    try {
      formatted = JSON.parse(readFileSync(securityFile, 'utf8')) as KafkaStorageSecurity;
    } catch {
      formatted = null;
    }
    if (formatted?.mechanism !== mechanism || formatted.adminUser !== admin.username) {
      const what = formatted ? `for ${formatted.mechanism} and the admin user ${formatted.adminUser}` : 'without SASL/SCRAM users';
      if (!options.reformatKafka) {
        throw new StackError(`kafka: the storage in ${dataDir} was formatted ${what}; \`npm run stack -- reset\` deletes the local stack's data and formats it anew`);
      }
      say(`kafka: the storage was formatted ${what}: formatting it anew (its topics are dropped)`);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  if (!existsSync(path.join(dataDir, 'meta.properties'))) {
    // A KRaft cluster id is a base64url-encoded 16-byte UUID. It may start with "-": passed as
    // `--cluster-id=<id>`, or the tool's argument parser takes it for an option (1 start in 32 failed).
    const clusterId = randomBytes(16).toString('base64url');
    say(`kafka: formatting KRaft storage ${dataDir} (cluster id ${clusterId}, ${mechanism} user ${admin.username})`);
    // The admin's SCRAM credential is bootstrapped into the metadata: the other principals are
    // created by the admin once the broker runs (ensureKafkaAccess).
    const scram = `${mechanism}=[name="${quotable(admin.username, 'KAFKA_ADMIN_USER')}",password="${quotable(admin.password, 'KAFKA_ADMIN_PASSWORD')}"]`;
    run('java', ['-cp', classpath, `-Dlog4j.configuration=file:${path.join(dir, 'log4j.properties')}`, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', propsFile, '--add-scram', scram], 'kafka storage format');
    writeFileSync(securityFile, `${JSON.stringify({ mechanism, adminUser: admin.username } satisfies KafkaStorageSecurity)}\n`);
  }
  await assertPortFree('kafka', config.kafka.brokers[0]!.split(':')[0]!, firstBrokerPort(config.kafka.brokers), 'KAFKA_BROKERS');
  await assertPortFree('kafka controller', config.kafka.brokers[0]!.split(':')[0]!, config.stack.kafkaControllerPort, 'KAFKA_CONTROLLER_PORT');
  const out = openSync(path.join(dir, 'kafka.log'), 'a');
  const child = spawn(
    'java',
    [
      '-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${path.join(dir, 'log4j.properties')}`,
      `-Dkafka.logs.dir=${dir}`,
      '-cp', classpath, 'kafka.Kafka', propsFile,
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  child.unref();
  closeSync(out);
  const record: ProcessRecord = { pid: child.pid!, cmdlineMarker: propsFile, port: firstBrokerPort(config.kafka.brokers), startedAt: new Date().toISOString() };
  await waitUntil(`kafka (log: ${path.join(dir, 'kafka.log')})`, 90_000, () => kafkaHealthy(config), () => isOurProcess(record));
  return record;
}

// ------------------------------------------------------------------------------------------------
// MinIO

function s3Port(config: Config): number {
  const url = new URL(config.s3.endpoint);
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

async function minioHealthy(config: Config): Promise<boolean> {
  const res = await fetch(new URL('/minio/health/ready', config.s3.endpoint), { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

async function ensureBucket(config: Config, say: Say): Promise<void> {
  const s3 = createS3Client(config);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: config.s3.bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: config.s3.bucket }));
    say(`minio: created bucket ${config.s3.bucket}`);
  } finally {
    s3.destroy();
  }
}

async function startMinio(config: Config, bins: Binaries): Promise<ProcessRecord> {
  const dir = path.join(config.stack.dir, 'minio');
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const host = new URL(config.s3.endpoint).hostname;
  const port = s3Port(config);
  await assertPortFree('minio', host, port, 'S3_ENDPOINT');
  await assertPortFree('minio console', host, config.stack.minioConsolePort, 'MINIO_CONSOLE_PORT');
  const out = openSync(path.join(dir, 'minio.log'), 'a');
  const child = spawn(bins.minio, ['server', dataDir, '--address', `${host}:${port}`, '--console-address', `${host}:${config.stack.minioConsolePort}`, '--quiet'], {
    detached: true,
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      // The local stack's root credentials are the S3 credentials the services use; in
      // production S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY should be a key scoped to the bucket.
      MINIO_ROOT_USER: config.s3.accessKeyId,
      MINIO_ROOT_PASSWORD: config.s3.secretAccessKey,
      MINIO_UPDATE: 'off',
      MINIO_BROWSER: 'on',
    },
  });
  child.unref();
  closeSync(out);
  const record: ProcessRecord = { pid: child.pid!, cmdlineMarker: dataDir, port, startedAt: new Date().toISOString() };
  await waitUntil(`minio (log: ${path.join(dir, 'minio.log')})`, 60_000, () => minioHealthy(config), () => isOurProcess(record));
  return record;
}

// ------------------------------------------------------------------------------------------------
// Public commands

/** The endpoints clients use, passwords left out. */
export function endpoints(config: Config): Endpoints {
  const hostForConsole = new URL(config.s3.endpoint).hostname;
  return {
    postgres: `postgresql://${config.postgres.admin.user}@${config.postgres.host}:${config.postgres.port}/${config.postgres.database}`,
    kafka: config.kafka.brokers.join(','),
    s3: `${config.s3.endpoint} (bucket ${config.s3.bucket})`,
    minioConsole: `http://${hostForConsole}:${config.stack.minioConsolePort}`,
  };
}

/**
 * Starts every server that is not already running, in dependency-free order, and waits for
 * each to be healthy. Idempotent: a healthy running server is left alone.
 * @throws MissingBinaryError, StackError (port taken, server did not become healthy).
 */
export async function stackUp(config: Config, say: Say = () => undefined, options: StackOptions = {}): Promise<Endpoints> {
  const bins = resolveBinaries(config);
  mkdirSync(config.stack.dir, { recursive: true });
  const state = readState(config);
  const starters: Record<ServiceName, () => Promise<ProcessRecord>> = {
    postgres: () => startPostgres(config, bins, say),
    kafka: () => startKafka(config, bins, say, options),
    minio: () => startMinio(config, bins),
  };
  await Promise.all(
    SERVICES.map(async (name) => {
      if (isOurProcess(state[name]) && name === 'kafka' && kafkaSettingsChanged(config)) {
        say('kafka: its settings changed (server.properties): restarting it');
        await stopPid(state[name]!, stopSignal(name));
      }
      if (isOurProcess(state[name])) {
        say(`${name}: already running (pid ${state[name]!.pid})`);
        return;
      }
      const t0 = Date.now();
      say(`${name}: starting`);
      const record = await starters[name]();
      state[name] = record;
      writeState(config, state);
      say(`${name}: healthy (pid ${record.pid}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }),
  );
  await ensureBucket(config, say);
  await ensureKafkaAccess(config, say);
  return endpoints(config);
}

/** Options of {@link stackUp}. */
export interface StackOptions {
  /**
   * Format Kafka's storage anew when it was formatted without the SASL/SCRAM admin this
   * configuration names (the test stack: its data is disposable); otherwise that is an error
   * telling to reset the stack.
   */
  reformatKafka?: boolean;
}

/**
 * The principals and ACLs of `config`'s source namespace on the local broker (services/common/
 * kafka/access.ts): SCRAM users of every service (passwords from the configuration) and their ACLs.
 */
export async function ensureKafkaAccess(config: Config, say: Say = () => undefined): Promise<void> {
  const admin = KafkaAdmin.create(asKafkaAdmin(config), 'stack-access', createLogger('stack', 'silent'));
  try {
    const rules = await applyKafkaAccess(config, admin);
    say(`kafka: ${rules.length} ACL rules for the principals of ${config.kafka.topicPrefix}.* (SASL/${config.kafka.security.mechanism})`);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/**
 * Stops one server of the stack (by recorded pid), e.g. for a test that needs an outage.
 * A no-op when it is not running.
 * @param options.signal instead of the normal stop (PostgreSQL: fast shutdown; others: SIGTERM),
 *   e.g. SIGKILL for a crash.
 */
export async function stopService(config: Config, name: ServiceName, say: Say = () => undefined, options: { signal?: NodeJS.Signals } = {}): Promise<void> {
  const record = readState(config)[name];
  if (record && isOurProcess(record)) {
    const signal = options.signal ?? stopSignal(name);
    say(`${name}: stopping pid ${record.pid} (${signal})`);
    await stopPid(record, signal, 30_000, (line) => say(`${name}: ${line}`));
    // Gone; its listening sockets close with it (give the kernel a moment under load).
    await waitPortsFree(config, name, 10_000);
  }
  const state = readState(config);
  delete state[name];
  writeState(config, state);
}

/**
 * Starts one server of the stack with the same command and data as {@link stackUp} and waits
 * until it is healthy. A no-op when it is already running.
 * @throws MissingBinaryError, StackError as stackUp.
 */
export function startService(config: Config, name: ServiceName, say: Say = () => undefined): Promise<void> {
  // One start per server at a time: a second caller (e.g. a test's afterAll while the timed-out
  // test is still restarting it) waits for the same start instead of racing it for the ports.
  const key = `${config.stack.dir}\0${name}`;
  let start = startsInFlight.get(key);
  if (!start) {
    start = startServiceNow(config, name, say).finally(() => startsInFlight.delete(key));
    startsInFlight.set(key, start);
  }
  return start;
}

const startsInFlight = new Map<string, Promise<void>>();

async function startServiceNow(config: Config, name: ServiceName, say: Say): Promise<void> {
  if (isOurProcess(readState(config)[name])) return;
  // Right after a stop (a test's outage), the ports may take a moment to be released.
  await waitPortsFree(config, name, 30_000);
  const bins = resolveBinaries(config, [name]);
  const record =
    name === 'postgres' ? await startPostgres(config, bins, say) : name === 'kafka' ? await startKafka(config, bins, say) : await startMinio(config, bins);
  const state = readState(config);
  state[name] = record;
  writeState(config, state);
  say(`${name}: healthy (pid ${record.pid})`);
}

/** Stops the servers this stack started (by recorded pid), newest dependency first. */
export async function stackDown(config: Config, say: Say = () => undefined): Promise<void> {
  const state = readState(config);
  await Promise.all(
    SERVICES.map(async (name) => {
      const record = state[name];
      if (!record) return;
      if (isOurProcess(record)) {
        say(`${name}: stopping pid ${record.pid} (${stopSignal(name)}${name === 'postgres' ? ': fast shutdown' : ''})`);
        await stopPid(record, stopSignal(name), 30_000, (line) => say(`${name}: ${line}`));
      }
      delete state[name];
    }),
  );
  if (existsSync(config.stack.dir)) writeState(config, state);
}

/** Running and health state of each server. */
export async function stackStatus(config: Config): Promise<ServiceStatus[]> {
  const state = readState(config);
  const ep = endpoints(config);
  const probes: Record<ServiceName, () => Promise<boolean>> = {
    postgres: () => pgHealthy(config),
    kafka: () => kafkaHealthy(config),
    minio: () => minioHealthy(config),
  };
  const endpointOf: Record<ServiceName, string> = { postgres: ep.postgres, kafka: ep.kafka, minio: ep.s3 };
  return Promise.all(
    SERVICES.map(async (service) => {
      const record = state[service];
      const running = isOurProcess(record);
      let healthy = false;
      let detail: string | undefined;
      try {
        healthy = await probes[service]();
      } catch (err) {
        detail = (err as Error).message;
      }
      return { service, pid: running ? record!.pid : null, running, healthy, endpoint: endpointOf[service], detail };
    }),
  );
}

/** Stops the stack, then deletes its data directory (and the PostgreSQL data it points to). */
export async function stackReset(config: Config, say: Say = () => undefined): Promise<void> {
  await stackDown(config, say);
  const pgDir = path.join(config.stack.dir, 'postgres');
  try {
    if (lstatSync(pgDir).isSymbolicLink()) {
      const real = path.resolve(path.dirname(pgDir), readlinkSync(pgDir));
      rmSync(path.dirname(real), { recursive: true, force: true });
    }
  } catch {
    // no PostgreSQL directory yet
  }
  rmSync(config.stack.dir, { recursive: true, force: true });
  say(`reset: removed ${config.stack.dir}`);
}

/** True when a Docker engine answers (not just the client binary). */
export function dockerEngineAvailable(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}
