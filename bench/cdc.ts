/**
 * `npm run bench -- cdc [--rows 200000] [--latency-seconds 20] [--rate 1000] [--only throughput|latency|snapshot]
 *   [--snapshot-rows 1000000] [--snapshot-rounds 2] [--tx-sizes 1,1000] [--port-base 56500] [--stop-stack] [--in-process] [--profile <dir>]
 *   [--peer debezium [--peer-rest-port N]]`
 *
 * Issue 3 benchmark of the CDC service (services/cdc), PostgreSQL, the broker and the service on
 * this machine:
 * 1. Throughput, twice: `--rows` rows inserted as single-row transactions, then as 1,000-row
 *    transactions. The WAL is written first (a procedure committing every N rows) with two slots
 *    created before it: `pg_recvlogical` (pgoutput, output to /dev/null, stopping at the end LSN)
 *    decodes it as the ceiling, then the service (default settings) streams it into Kafka; its
 *    rate is rows / (time from "streaming" until the topic holds every row, i.e. the broker
 *    acknowledged the last event). The ratio service/pg_recvlogical is printed.
 * 2. Latency at a steady `--rate` rows/s (single-row transactions, default synchronous_commit):
 *    per event, broker acknowledgement time minus the commit time (source.ts_ms); p50/p99/max
 *    after a 2 s warm-up.
 * 3. The producer alone, in this process: the same number of pre-rendered events pushed through
 *    the service's KafkaSink with its settings (batches, in-flight limit), as the producer's share
 *    of the cost; once without headers, once with the headers the service puts on every event
 *    (Debezium's `__debezium.context.*` unless CDC_EXTENDED_HEADERS=false, `lakehouse.schema.id`).
 * For each throughput run, how busy the machine's cores were while pg_recvlogical and then the
 * service streamed (/proc/stat), and the service's part: PostgreSQL's walsender, the broker and
 * the service share the cores, so a ratio means little without it.
 * 4. Snapshots (issue 16), `--snapshot-rounds` alternating rounds on a `--snapshot-rows`-row table
 *    (default 1,000,000), service in this process: the initial snapshot of a new slot (rows/s from
 *    the start of the service until every op "r" is acknowledged), then, with the same service
 *    streaming, an incremental snapshot of the same table (`lakehouse snapshot --table`, rows/s
 *    from the signal until every incremental "r" is acknowledged) while single-row inserts into
 *    another captured table run at `--rate` rows/s; their streaming latency (acknowledgement minus
 *    commit) during the incremental snapshot. Medians and ranges over the rounds; the streaming
 *    rate of the same run is the throughput table's. Targets: incremental >= 50 % of the initial
 *    rate; p99 of the concurrent writes <= 100 ms.
 * The throughput runs start the service as `npm run cdc` does (child process, the script's node
 * flags) and report its CPU per row and peak RSS; `--in-process`/`--profile` run it in this process.
 * BENCH_CDC_NODE_ARGS adds Node flags to that child (e.g. `--cpu-prof --cpu-prof-dir=<dir>`: a V8
 * CPU profile of the service process, written when it stops).
 * `--peer debezium` also streams each backlog with Debezium 3.6.1 on Kafka Connect 4.3.0 (third slot,
 * same WAL; bench/lib/debezium-peer.ts) and prints its rows/s, CPU per row and peak RSS beside the
 * service's, with the ratios (target: the service >= 4x Debezium's rate at <= 1/4 of its CPU per row).
 * Connect's REST listener takes `--peer-rest-port` (default port base + 84, or 8083 without one).
 * Targets: >= 50,000 rows/s with 1,000-row transactions and >= 0.25 of pg_recvlogical; p99 <=
 * 50 ms at 1,000 rows/s; RSS <= 300 MB.
 *
 * Stack: `--port-base N` starts (or reuses) a stack on the test-stack port layout for base N
 * (PostgreSQL N+432, Kafka N+92); otherwise TEST_STACK_PORT_BASE, otherwise the environment's
 * stack (`npm run stack -- up`). `--stop-stack` stops a stack started for the run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { Command, Option } from 'commander';
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { loadConfig, pgConnection, REPO_ROOT, type Config } from '../services/common/config.ts';
import { createLogger } from '../services/common/logger.ts';
import type { OutgoingEvent } from '../services/cdc/change-mapper.ts';
import { formatLsn, parseLsn } from '../services/cdc/lsn.ts';
import { CdcService } from '../services/cdc/service.ts';
import { KafkaSink } from '../services/cdc/kafka-sink.ts';
import { KafkaAdmin } from '../services/common/kafka/index.ts';
import { ensureKafkaAccess, resolveBinaries, stackDown, stackUp } from '../scripts/lib/stack.ts';
import { migrate } from '../scripts/lib/migrate.ts';
import { testEnv } from '../tests/support/test-env.ts';
import { runLakehouse } from '../scripts/lib/lakehouse/program.ts';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { runDebeziumPeer, type DebeziumPeerResult } from './lib/debezium-peer.ts';
import { CONNECT_JVM_FLAGS } from '../scripts/lib/debezium-connect.ts';
import { describeBusy, machineCpu, processCpuMicros, processRss } from '../scripts/lib/proc-stats.ts';
import { cdcServiceHeaders } from './lib/service-headers.ts';

const opts = new Command('bench cdc')
  .option('--rows <n>', 'rows per throughput run', (v) => Number(v), 200_000)
  .option('--latency-seconds <n>', 'duration of the latency run', (v) => Number(v), 20)
  .option('--rate <n>', 'rows per second of the latency run', (v) => Number(v), 1000)
  .option('--only <part>', '"throughput", "latency" or "snapshot"')
  .option('--snapshot-rows <n>', 'rows of the snapshot benchmark table', (v) => Number(v), 1_000_000)
  .option('--snapshot-rounds <n>', 'alternating initial/incremental snapshot rounds', (v) => Number(v), 2)
  .option('--tx-sizes <list>', 'rows per transaction of the throughput runs', (v) => v.split(',').map(Number), [1, 1000])
  .option('--port-base <n>', 'start/use a stack on the test-stack port layout for this base', (v) => Number(v))
  .option('--stop-stack', 'stop the stack started for the run at the end')
  .option('--profile <dir>', 'run the service in this process and write V8 CPU and allocation profiles of each streaming phase to this directory')
  .option('--in-process', 'run the throughput service in this process instead of as `npm run cdc` would (child process)')
  .addOption(new Option('--peer <name>', 'also measure this peer on the same WAL').choices(['debezium']))
  .option('--peer-rest-port <n>', 'Kafka Connect REST port of the Debezium peer', (v) => Number(v))
  .parse(process.argv)
  .opts<{ rows: number; latencySeconds: number; rate: number; only?: string; snapshotRows: number; snapshotRounds: number; txSizes: number[]; portBase?: number; stopStack?: boolean; profile?: string; inProcess?: boolean; peer?: 'debezium'; peerRestPort?: number }>();

const portBase = opts.portBase ?? (process.env.TEST_STACK_PORT_BASE ? Number(process.env.TEST_STACK_PORT_BASE) : undefined);
const baseEnv: NodeJS.ProcessEnv = portBase ? { ...process.env, ...testEnv(portBase) } : { ...process.env };
const config = loadConfig(baseEnv);
const RUN = Date.now().toString(36);
const TABLE = 'bench_cdc_rows';
const PUBLICATION = 'bench_cdc_pub';
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MB`;

/** Starts a CPU profile when --profile is set; the returned function writes it as `<name>.cpuprofile`. */
async function startProfile(name: string): Promise<() => Promise<void>> {
  if (!opts.profile) return async () => undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    const { profile: heap } = await session.post('HeapProfiler.stopSampling');
    mkdirSync(opts.profile!, { recursive: true });
    const file = path.join(opts.profile!, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    writeFileSync(path.join(opts.profile!, `${name}.heapprofile`), JSON.stringify(heap));
    session.disconnect();
    console.log(`  profile: ${file} (+ .heapprofile: allocations sampled every 64 KiB)`);
  };
}

let peakRss = 0;
let peakHeap = 0;
let peakExternal = 0;
const rssSampler = setInterval(() => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
  peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
  if (process.env.BENCH_TRACE_MEMORY) console.log(`rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}`);
}, 100);

async function admin(): Promise<pg.Client> {
  const c = new pg.Client(pgConnection(config, 'admin'));
  await c.connect();
  return c;
}

async function setup(db: pg.Client): Promise<void> {
  await db.query(`
    DROP TABLE IF EXISTS ${TABLE};
    DROP PUBLICATION IF EXISTS ${PUBLICATION};
    CREATE TABLE ${TABLE} (
      id bigint PRIMARY KEY, employee_id integer NOT NULL, sport_type text NOT NULL, started_at timestamptz NOT NULL,
      elapsed_seconds integer NOT NULL, distance_m integer, comment text, created_at timestamptz NOT NULL DEFAULT now());
    ALTER TABLE ${TABLE} REPLICA IDENTITY FULL;
    GRANT SELECT ON ${TABLE} TO ${config.postgres.cdc.user};
    CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${TABLE} WITH (publish = 'insert, update, delete, truncate');
    CREATE OR REPLACE PROCEDURE bench_cdc_load(first_id bigint, n integer, per_tx integer) LANGUAGE plpgsql AS $$
    DECLARE i integer := 0;
    BEGIN
      WHILE i < n LOOP
        INSERT INTO ${TABLE} (id, employee_id, sport_type, started_at, elapsed_seconds, distance_m, comment)
        SELECT first_id + g, 1 + g % 160, (ARRAY['Runing','Randonnée','Vélo','Natation'])[1 + g % 4],
               timestamptz '2024-01-01 07:00:00+00' + g * interval '1 minute', 1800 + g % 3600, 5000 + g % 20000,
               CASE WHEN g % 3 = 0 THEN 'Sortie du dimanche' END
          FROM generate_series(i, LEAST(i + per_tx, n) - 1) g;
        COMMIT;
        i := i + per_tx;
      END LOOP;
    END $$;`);
}

async function createSlot(db: pg.Client, slot: string): Promise<void> {
  await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
}

async function dropSlot(db: pg.Client, slot: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const r = await db.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (!r.rows[0]) return;
    if (!r.rows[0].active) {
      await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** pg_recvlogical from `slot` to /dev/null up to `endLsn`: seconds taken, and how busy the machine was meanwhile. */
async function pgRecvlogical(slot: string, endLsn: bigint): Promise<{ seconds: number; busy: string }> {
  const bin = path.join(resolveBinaries(config, ['postgres']).pgBinDir, 'pg_recvlogical');
  const args = [
    '-h', config.postgres.host, '-p', String(config.postgres.port), '-U', config.postgres.cdc.user, '-d', config.postgres.database,
    '-S', slot, '--start', '-E', formatLsn(endLsn), '-f', '/dev/null', '-n',
    '-o', 'proto_version=1', '-o', `publication_names=${PUBLICATION}`,
  ];
  const t0 = performance.now();
  const machine0 = machineCpu();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, PGPASSWORD: config.postgres.cdc.password }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_recvlogical exited ${code}: ${stderr}`))));
  });
  return { seconds: (performance.now() - t0) / 1000, busy: describeBusy(machine0, machineCpu()) };
}

function serviceEnv(slot: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...baseEnv,
    KAFKA_TOPIC_PREFIX: `bench${RUN}`,
    CDC_SLOT_NAME: slot,
    CDC_TABLES: TABLE,
    CDC_PUBLICATION: PUBLICATION,
    CDC_METRICS_PORT: '0',
    CDC_SNAPSHOT_MODE: 'never',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...extra,
  };
}

function serviceConfig(slot: string, extra: Record<string, string> = {}): Config {
  return loadConfig(serviceEnv(slot, extra));
}

/** Node flags and `env` assignments of `npm run cdc` (package.json), so the child runs as operators run it. */
const CDC_SCRIPT = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.cdc!;
// `--import tsx` is added explicitly below; keep only the other node flags of the script.
const SERVICE_NODE_FLAGS: string[] = (CDC_SCRIPT.match(/--[a-z0-9-]+(?:=\S+)?/g) ?? []).filter((f) => f !== '--import');
const SERVICE_ENV: Record<string, string> = Object.fromEntries([...CDC_SCRIPT.matchAll(/\b([A-Z][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
const TOPIC = () => `bench${RUN}.public.${TABLE}`;

async function topicRecords(admin: KafkaAdmin): Promise<number> {
  try {
    return (await admin.fetchTopicOffsets(TOPIC())).reduce((n, p) => n + Number(p.high), 0);
  } catch {
    return 0;
  }
}

/**
 * The service as a child process (`node <npm run cdc flags> --import tsx services/cdc/main.ts`)
 * streaming `rows` backlog rows: seconds from "streaming changes" until the topic holds them all,
 * CPU per row and peak RSS of that process.
 */
async function runServiceChild(slot: string, rows: number): Promise<{ seconds: number; cpuMicrosPerRow: number; peakRss: number; busy: string }> {
  const admin = KafkaAdmin.create(config, 'bench-cdc', createLogger('cdc-bench', process.env.LOG_LEVEL ?? 'warn'));
  // Created here (as the service would create it) so that offsets can be polled from the start.
  await admin.ensureTopic(TOPIC(), config.kafka.topicPartitions);
  // The child authenticates as the CDC principal: its ACLs for this run's namespace.
  await ensureKafkaAccess(serviceConfig(slot));
  // BENCH_CDC_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`): extra Node flags for tuning experiments, after the script's.
  const extraNodeArgs = (process.env.BENCH_CDC_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...extraNodeArgs, '--import', 'tsx', path.join(REPO_ROOT, 'services/cdc/main.ts')], {
    cwd: REPO_ROOT,
    env: serviceEnv(slot, { LOG_LEVEL: 'info', ...SERVICE_ENV }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const base = await topicRecords(admin);
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes('"streaming changes"')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then((code) => reject(new Error(`service exited (${code}) before streaming:\n${output}`)));
    });
    const t0 = performance.now();
    const cpu0 = processCpuMicros(child.pid!);
    const machine0 = machineCpu();
    let peak = processRss(child.pid!);
    let exitedEarly = false;
    void exited.then(() => (exitedEarly = true));
    for (;;) {
      if (exitedEarly) throw new Error(`service exited while streaming:\n${output.slice(-4000)}`);
      if (performance.now() - t0 > 600_000) throw new Error(`${rows} rows not in ${TOPIC()} after 10 minutes`);
      peak = Math.max(peak, processRss(child.pid!));
      if ((await topicRecords(admin)) - base >= rows) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = processCpuMicros(child.pid!) - cpu0;
    const busy = describeBusy(machine0, machineCpu(), { label: 'cdc', cpuMicros: cpu });
    return { seconds, cpuMicrosPerRow: cpu / rows, peakRss: Math.max(peak, processRss(child.pid!)), busy };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await admin.close();
  }
}

interface ThroughputResult {
  perTx: number; loadSeconds: number; recvSeconds: number; cdcSeconds: number; cpuMicrosPerRow: number; peakRss: number; debezium?: DebeziumPeerResult;
  /** Machine CPU while pg_recvlogical, then the service, streamed (e.g. "1.95 of 2 cores busy (cdc 0.98)"). */
  recvBusy: string; cdcBusy: string;
}

/** First line of `java -version` of the JVM the peer runs on. */
function javaVersion(): string {
  const res = spawnSync(process.env.DEBEZIUM_JAVA ?? 'java', ['-version'], { encoding: 'utf8' });
  return (res.stderr || res.stdout || '').split('\n')[0]!.trim() || 'java: unknown version';
}

/** Debezium over the backlog in `slot` (see bench/lib/debezium-peer.ts). */
async function debeziumPeer(slot: string, perTx: number): Promise<DebeziumPeerResult> {
  const admin = KafkaAdmin.create(config, 'bench-cdc-peer', createLogger('cdc-bench', process.env.LOG_LEVEL ?? 'warn'));
  try {
    return await runDebeziumPeer({
      config,
      slot,
      publication: PUBLICATION,
      table: `public.${TABLE}`,
      rows: opts.rows,
      topicPrefix: `benchdbz${RUN}x${perTx}`,
      restPort: opts.peerRestPort ?? (portBase ? portBase + 84 : 8083),
      createTopic: async (topic) => void (await admin.ensureTopic(topic, config.kafka.topicPartitions)),
      deleteTopic: async (topic) => void (await admin.deleteTopics([topic]).catch(() => undefined)),
      topicRecords: async (topic) => {
        try {
          return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
        } catch {
          return 0;
        }
      },
    });
  } finally {
    await admin.close();
  }
}

async function throughput(db: pg.Client, perTx: number, firstId: number): Promise<ThroughputResult> {
  const rows = opts.rows;
  const cdcSlot = `bench_cdc_${RUN}_${perTx}`;
  const recvSlot = `bench_recv_${RUN}_${perTx}`;
  const peerSlot = `bench_dbz_${RUN}_${perTx}`;
  await createSlot(db, cdcSlot);
  await createSlot(db, recvSlot);
  if (opts.peer) await createSlot(db, peerSlot);
  try {
    const t0 = performance.now();
    await db.query('SET synchronous_commit = off');
    await db.query('CALL bench_cdc_load($1, $2, $3)', [firstId, rows, perTx]);
    await db.query('RESET synchronous_commit');
    const loadSeconds = (performance.now() - t0) / 1000;
    const endLsn = parseLsn((await db.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l);

    const recv = await pgRecvlogical(recvSlot, endLsn);
    const recvSeconds = recv.seconds;

    if (!opts.inProcess && !opts.profile) {
      const child = await runServiceChild(cdcSlot, rows);
      const debezium = opts.peer ? await debeziumPeer(peerSlot, perTx) : undefined;
      return { perTx, loadSeconds, recvSeconds, cdcSeconds: child.seconds, cpuMicrosPerRow: child.cpuMicrosPerRow, peakRss: child.peakRss, debezium, recvBusy: recv.busy, cdcBusy: child.busy };
    }
    peakRss = process.memoryUsage.rss();
    let acked = 0;
    let doneAt = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const service = new CdcService(serviceConfig(cdcSlot), createLogger('cdc-bench', process.env.LOG_LEVEL ?? 'warn'), {
      onAcknowledged: (events) => {
        acked += events.length;
        if (acked >= rows && !doneAt) {
          doneAt = performance.now();
          resolveDone();
        }
      },
    });
    const running = service.run();
    await service.streaming;
    const streamingAt = performance.now();
    const cpuAtStart = process.cpuUsage();
    const machine0 = machineCpu();
    const stopProfile = await startProfile(`cdc-throughput-${perTx}`);
    await done;
    const cpu = process.cpuUsage(cpuAtStart);
    const cdcBusy = describeBusy(machine0, machineCpu(), { label: 'this process', cpuMicros: cpu.user + cpu.system });
    await stopProfile();
    const cdcSeconds = (doneAt - streamingAt) / 1000;
    const rss = Math.max(peakRss, process.memoryUsage.rss());
    service.stop();
    await running;
    const debezium = opts.peer ? await debeziumPeer(peerSlot, perTx) : undefined;
    return { perTx, loadSeconds, recvSeconds, cdcSeconds, cpuMicrosPerRow: (cpu.user + cpu.system) / rows, peakRss: rss, debezium, recvBusy: recv.busy, cdcBusy };
  } finally {
    await dropSlot(db, cdcSlot);
    await dropSlot(db, recvSlot);
    if (opts.peer) await dropSlot(db, peerSlot);
  }
}

/**
 * The producer alone, in this process: `rows` pre-rendered envelopes of the benchmark row's size,
 * pushed through the service's KafkaSink with the service's settings (idempotent, acks=all,
 * CDC_BATCH_MAX_EVENTS per batch, CDC_MAX_IN_FLIGHT batches outstanding, partition set). The
 * producer's share of the service's cost.
 */
async function producerCeiling(rows: number, headers: Readonly<Record<string, string>> | undefined): Promise<{ rate: number; cpuMicrosPerMessage: number }> {
  const topic = `bench${RUN}.producer-ceiling${headers ? '-headers' : ''}`;
  const logger = createLogger('cdc-bench', process.env.LOG_LEVEL ?? 'warn');
  const c = config.cdc;
  const sink = new KafkaSink<null>(
    config,
    { partitions: config.kafka.topicPartitions, batchMaxEvents: c.batchMaxEvents, lingerMs: c.lingerMs, compression: c.compression, maxPendingEvents: c.maxPendingEvents, maxMessageBytes: c.maxMessageBytes, maxInFlight: c.maxInFlight },
    () => undefined,
    logger,
  );
  try {
    await sink.ensureTopics([topic]);
    const value = (i: number) => `{"before":null,"after":{"id":${i},"employee_id":${1 + (i % 160)},"sport_type":"Runing","started_at":"2024-01-01T07:00:00.000000Z","elapsed_seconds":2760,"distance_m":10800,"comment":"Sortie du dimanche","created_at":"2024-01-01T07:00:00.000000Z"},"source":{"version":"0.1.0","connector":"postgresql","name":"bench","ts_ms":1700000000000,"snapshot":"false","db":"sport","schema":"public","table":"${TABLE}","txId":12345,"lsn":${123456789 + i * 100},"xmin":null},"op":"c","ts_ms":1700000000123}`;
    const events: OutgoingEvent[] = Array.from({ length: rows }, (_, i) => ({ topic, key: `{"id":${i}}`, value: value(i), lsn: BigInt(i), op: 'c', ...(headers ? { headers } : {}) }));
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (const e of events) {
      if (!sink.hasCapacity()) await sink.waitForCapacity();
      sink.push(e, null);
    }
    await sink.flush();
    const cpu = process.cpuUsage(cpu0);
    return { rate: rows / ((performance.now() - t0) / 1000), cpuMicrosPerMessage: (cpu.user + cpu.system) / rows };
  } finally {
    await sink.disconnect();
    const admin = KafkaAdmin.create(config, 'bench-cdc', logger);
    await admin.deleteTopics([topic, `${topic}.dlq`]).catch(() => undefined);
    await admin.close();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latency(db: pg.Client, firstId: number): Promise<{ p50: number; p99: number; max: number; samples: number; achievedRate: number; peakRss: number }> {
  const slot = `bench_lat_${RUN}`;
  await createSlot(db, slot);
  const latencies: number[] = [];
  let warmUntil = 0;
  const service = new CdcService(serviceConfig(slot), createLogger('cdc-bench', process.env.LOG_LEVEL ?? 'warn'), {
    onAcknowledged: (events: OutgoingEvent[], ackedAt: number) => {
      if (ackedAt < warmUntil) return;
      for (const e of events) {
        if (e.value === null) continue;
        const i = e.value.indexOf('"ts_ms":'); // source.ts_ms: the commit time (source precedes the top-level ts_ms)
        latencies.push(ackedAt - Number(e.value.slice(i + 8, e.value.indexOf(',', i))));
      }
    },
  });
  const running = service.run();
  try {
    await service.streaming;
    peakRss = process.memoryUsage.rss();
    const insert = `INSERT INTO ${TABLE} (id, employee_id, sport_type, started_at, elapsed_seconds, distance_m, comment)
      VALUES ($1, 7, 'Runing', now(), 2760, 10800, 'Sortie du dimanche')`;
    // Each row is its own transaction, issued on schedule from a small pool so that a slow
    // commit does not hold back the next one.
    const pool = new pg.Pool({ ...pgConnection(config, 'admin'), max: 4 });
    const t0 = performance.now();
    warmUntil = Date.now() + 2000;
    const total = opts.latencySeconds * opts.rate;
    const intervalMs = 1000 / opts.rate;
    const inserts: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      const wait = t0 + i * intervalMs - performance.now();
      if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
      inserts.push(pool.query(insert, [firstId + i]));
    }
    await Promise.all(inserts);
    const achievedRate = total / ((performance.now() - t0) / 1000);
    await pool.end();
    await new Promise((r) => setTimeout(r, 1000));
    const sorted = latencies.sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, samples: sorted.length, achievedRate, peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
  } finally {
    service.stop();
    await running;
    await dropSlot(db, slot);
  }
}

/** Whether a part runs: every part by default, or the one `--only` names. */
const runs = (part: 'throughput' | 'latency' | 'snapshot') => !opts.only || opts.only === part;

const SNAP_TABLE = 'bench_cdc_snap';
const SNAP_STREAM_TABLE = 'bench_cdc_stream';
const SNAP_PUBLICATION = 'bench_cdc_snap_pub';

interface SnapshotRound { initialRate: number; incrementalRate: number; chunks: number; p50: number; p99: number; max: number; samples: number; writeRate: number; skipped: number }

/** The snapshot table (`--snapshot-rows` rows of the benchmark shape) and an empty table for the concurrent writes. */
async function setupSnapshotTables(db: pg.Client): Promise<number> {
  const t0 = performance.now();
  await db.query(`
    DROP TABLE IF EXISTS ${SNAP_TABLE}, ${SNAP_STREAM_TABLE};
    DROP PUBLICATION IF EXISTS ${SNAP_PUBLICATION};
    CREATE TABLE ${SNAP_TABLE} (LIKE ${TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
    CREATE TABLE ${SNAP_STREAM_TABLE} (LIKE ${TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
    GRANT SELECT ON ${SNAP_TABLE}, ${SNAP_STREAM_TABLE} TO ${config.postgres.cdc.user};
    CREATE PUBLICATION ${SNAP_PUBLICATION} FOR TABLE ${SNAP_TABLE}, ${SNAP_STREAM_TABLE} WITH (publish = 'insert, update, delete, truncate');`);
  await db.query(`INSERT INTO ${SNAP_TABLE} (id, employee_id, sport_type, started_at, elapsed_seconds, distance_m, comment)
    SELECT g, 1 + g % 160, (ARRAY['Runing','Randonnée','Vélo','Natation'])[1 + g % 4], timestamptz '2024-01-01 07:00:00+00' + g * interval '1 minute',
           1800 + g % 3600, 5000 + g % 20000, CASE WHEN g % 3 = 0 THEN 'Sortie du dimanche' END
      FROM generate_series(1, $1::integer) g`, [opts.snapshotRows]);
  await db.query(`VACUUM ANALYZE ${SNAP_TABLE}`);
  return (performance.now() - t0) / 1000;
}

/**
 * One round: a new slot's initial snapshot of the table, then an incremental snapshot of it by the
 * same service while `--rate` single-row inserts per second stream into the other table.
 */
async function snapshotRound(db: pg.Client, round: number, firstWriteId: number): Promise<SnapshotRound> {
  const rows = opts.snapshotRows;
  const slot = `bench_snap_${RUN}_${round}`;
  const prefix = `benchsnap${RUN}r${round}`;
  const env = serviceEnv(slot, { KAFKA_TOPIC_PREFIX: prefix, CDC_TABLES: `${SNAP_TABLE},${SNAP_STREAM_TABLE}`, CDC_PUBLICATION: SNAP_PUBLICATION, CDC_SNAPSHOT_MODE: 'initial' });
  const snapTopic = `${prefix}.public.${SNAP_TABLE}`;
  const streamTopic = `${prefix}.public.${SNAP_STREAM_TABLE}`;
  let phase: 'initial' | 'between' | 'incremental' | 'after' = 'initial';
  let initialReads = 0;
  let incrementalReads = 0;
  let initialDoneAt = 0;
  let incrementalDoneAt = 0;
  let resolveInitial!: () => void;
  let resolveIncremental!: () => void;
  const initialDone = new Promise<void>((r) => (resolveInitial = r));
  const incrementalDone = new Promise<void>((r) => (resolveIncremental = r));
  const latencies: number[] = [];
  const service = new CdcService(loadConfig(env), createLogger('cdc-bench', process.env.LOG_LEVEL ?? 'warn'), {
    onAcknowledged: (events: OutgoingEvent[], ackedAt: number) => {
      for (const e of events) {
        if (e.op === 'r' && e.topic === snapTopic) {
          if (phase === 'initial' && ++initialReads === rows) {
            initialDoneAt = performance.now();
            resolveInitial();
          } else if (phase === 'incremental' && ++incrementalReads === rows) {
            incrementalDoneAt = performance.now();
            resolveIncremental();
          }
        } else if (phase === 'incremental' && e.op === 'c' && e.topic === streamTopic && e.value !== null) {
          const i = e.value.indexOf('"ts_ms":'); // source.ts_ms: the commit time
          latencies.push(ackedAt - Number(e.value.slice(i + 8, e.value.indexOf(',', i))));
        }
      }
    },
  });
  const t0 = performance.now();
  const running = service.run();
  const pool = new pg.Pool({ ...pgConnection(config, 'admin'), max: 4 });
  try {
    await Promise.race([initialDone, running.then(() => { throw new Error('the service stopped during the initial snapshot'); })]);
    await service.streaming;
    phase = 'between';
    // The concurrent write load starts first, then the incremental snapshot is requested. Inserts
    // go out on schedule from a pool of 4 connections; one that would wait behind more than 8
    // outstanding is skipped (counted), so a starved client shows as a lower achieved rate instead
    // of an ever-growing queue.
    let writing = true;
    let committed = 0;
    let committedAtStart = 0;
    let skipped = 0;
    let outstanding = 0;
    const insert = `INSERT INTO ${SNAP_STREAM_TABLE} (id, employee_id, sport_type, started_at, elapsed_seconds, distance_m, comment)
      VALUES ($1, 7, 'Runing', now(), 2760, 10800, 'Sortie du dimanche')`;
    const intervalMs = 1000 / opts.rate;
    const w0 = performance.now();
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const wait = w0 + i * intervalMs - performance.now();
        if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
        else if (i % 50 === 0) await new Promise((r) => setImmediate(r));
        if (outstanding >= 8) {
          skipped++;
          continue;
        }
        outstanding++;
        void pool.query(insert, [firstWriteId + i]).then(() => committed++, () => undefined).finally(() => outstanding--);
      }
    })();
    await new Promise((r) => setTimeout(r, 2000));
    phase = 'incremental';
    const s0 = performance.now();
    committedAtStart = committed;
    skipped = 0;
    // The CLI's own lines would break the table: kept out of the output.
    const log = console.log;
    console.log = () => undefined;
    const code = await runLakehouse(['snapshot', '--table', `public.${SNAP_TABLE}`, '--no-wait'], env).finally(() => (console.log = log));
    if (code !== 0) throw new Error(`lakehouse snapshot exited ${code}`);
    await Promise.race([incrementalDone, running.then(() => { throw new Error('the service stopped during the incremental snapshot'); })]);
    const writeRate = (committed - committedAtStart) / ((performance.now() - s0) / 1000);
    phase = 'after';
    writing = false;
    await writer;
    while (outstanding > 0) await new Promise((r) => setTimeout(r, 10));
    const chunks = Math.ceil(rows / config.cdc.incrementalChunkRows);
    const sorted = latencies.sort((a, b) => a - b);
    return {
      initialRate: rows / ((initialDoneAt - t0) / 1000),
      incrementalRate: rows / ((incrementalDoneAt - s0) / 1000),
      chunks, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, samples: sorted.length, writeRate, skipped,
    };
  } finally {
    await pool.end();
    service.stop();
    await running;
    await dropSlot(db, slot);
    const admin = KafkaAdmin.create(config, 'bench-cdc', createLogger('cdc-bench', 'warn'));
    const topics = (await admin.listTopics().catch(() => [] as string[])).filter((t) => t.startsWith(`${prefix}.`) || t.includes(`.${prefix}.`));
    await admin.deleteTopics(topics).catch(() => undefined);
    await admin.close();
  }
}

/** `median (min-max)` of the values. */
function medianRange(values: number[], digits = 0): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return sorted.length === 1 ? fmt(mid, digits) : `${fmt(mid, digits)} (${fmt(sorted[0]!, digits)}-${fmt(sorted.at(-1)!, digits)})`;
}

async function main(): Promise<void> {
  if (portBase) {
    console.log(`stack: port base ${portBase} (PostgreSQL ${config.postgres.port}, Kafka ${config.kafka.brokers.join(',')})`);
    await stackUp(config, (l) => console.log(`  ${l}`));
    await migrate(config);
  }
  const db = await admin();
  try {
    await setup(db);
    console.log(`\nCDC benchmark: ${fmt(opts.rows)} rows per throughput run; service defaults: batch ${config.cdc.batchMaxEvents} events, ${config.cdc.maxInFlight} batches in flight, ${config.cdc.maxPendingEvents} pending events at most, linger ${config.cdc.lingerMs} ms, compression ${config.cdc.compression}\n`);
    let nextId = 1;
    const streamingRates: number[] = [];
    if (runs('throughput')) {
      console.log(`service: ${opts.inProcess || opts.profile ? 'in this process' : `child process, ${Object.entries(SERVICE_ENV).map(([k, v]) => `${k}=${v} `).join('')}node ${SERVICE_NODE_FLAGS.join(' ')} --import tsx services/cdc/main.ts`}`);
      const peerHead = opts.peer ? ' debezium rows/s | debezium CPU µs/row | debezium peak RSS | cdc/debezium rate | cdc/debezium CPU per row |' : '';
      console.log(`| rows/tx | WAL written (s) | pg_recvlogical rows/s | cdc rows/s (commit -> ack) | ratio | cdc CPU µs/row | cdc peak RSS |${peerHead}`);
      console.log(`|---:|---:|---:|---:|---:|---:|---:|${opts.peer ? '---:|---:|---:|---:|---:|' : ''}`);
      const busyLines: string[] = [];
      for (const perTx of opts.txSizes) {
        const r = await throughput(db, perTx, nextId);
        nextId += opts.rows;
        const recvRate = opts.rows / r.recvSeconds;
        const cdcRate = opts.rows / r.cdcSeconds;
        streamingRates.push(cdcRate);
        const d = r.debezium;
        const peerCells = d ? ` ${fmt(opts.rows / d.seconds)} | ${fmt(d.cpuMicrosPerRow, 1)} | ${mb(d.peakRss)} | ${fmt(cdcRate / (opts.rows / d.seconds), 2)} | ${fmt(r.cpuMicrosPerRow / d.cpuMicrosPerRow, 2)} |` : '';
        console.log(`| ${fmt(perTx)} | ${fmt(r.loadSeconds, 1)} | ${fmt(recvRate)} | ${fmt(cdcRate)} | ${fmt(cdcRate / recvRate, 2)} | ${fmt(r.cpuMicrosPerRow, 1)} | ${mb(r.peakRss)} |${peerCells}`);
        busyLines.push(`${fmt(perTx)} rows/tx: pg_recvlogical ${r.recvBusy}; cdc ${r.cdcBusy}`);
      }
      // PostgreSQL (walsender), the broker and the service share the cores: a ratio means little
      // without how busy they were.
      console.log(`\nmachine CPU while streaming (/proc/stat):\n${busyLines.map((l) => `- ${l}`).join('\n')}`);
    }
    if (opts.peer && runs('throughput')) {
      console.log(`\nDebezium 3.6.1 on Kafka Connect 4.3.0 standalone (${javaVersion()}, ${CONNECT_JVM_FLAGS.join(' ')}), its own slot on the same WAL, snapshot.mode=no_data; measured from "Processing messages" until its topic holds every row. Targets: cdc/debezium rate >= 4, cdc/debezium CPU per row <= 0.25.`);
    }
    if (runs('throughput')) {
      const bare = await producerCeiling(opts.rows, undefined);
      const headers = cdcServiceHeaders(`bench${RUN}`, config.cdc.extendedHeaders);
      const withHeaders = await producerCeiling(opts.rows, headers);
      const names = Object.keys(headers);
      console.log(`\nproducer alone (the service's KafkaSink and settings, pre-rendered events, this process):`);
      console.log(`- without headers: ${fmt(bare.rate)} messages/s, ${fmt(bare.cpuMicrosPerMessage, 1)} µs CPU/message`);
      console.log(`- with the service's ${names.length === 1 ? 'header' : `${names.length} headers`} (${names.join(', ')}): ${fmt(withHeaders.rate)} messages/s, ${fmt(withHeaders.cpuMicrosPerMessage, 1)} µs CPU/message`);
    }
    if (runs('snapshot')) {
      const loadSeconds = await setupSnapshotTables(db);
      console.log(`\nsnapshots of a ${fmt(opts.snapshotRows)}-row table (written in ${fmt(loadSeconds, 1)} s), ${opts.snapshotRounds} alternating rounds (initial, then incremental with ${fmt(opts.rate)} inserts/s into another captured table), service in this process; initial chunks ${fmt(config.cdc.snapshotChunkRows)} rows, incremental chunks ${fmt(config.cdc.incrementalChunkRows)} rows`);
      console.log('| round | initial rows/s | incremental rows/s | incremental / initial | writes/s committed (skipped) | write latency p50 / p99 / max (ms) | samples |');
      console.log('|---:|---:|---:|---:|---:|---:|---:|');
      const results: SnapshotRound[] = [];
      for (let round = 1; round <= opts.snapshotRounds; round++) {
        const r = await snapshotRound(db, round, nextId + 10_000_000 + round * 1_000_000);
        results.push(r);
        console.log(`| ${round} | ${fmt(r.initialRate)} | ${fmt(r.incrementalRate)} | ${fmt((100 * r.incrementalRate) / r.initialRate)} % | ${fmt(r.writeRate)} (${fmt(r.skipped)}) | ${fmt(r.p50)} / ${fmt(r.p99)} / ${fmt(r.max)} | ${fmt(r.samples)} |`);
      }
      console.log(`snapshot summary, median (range): initial ${medianRange(results.map((r) => r.initialRate))} rows/s; incremental ${medianRange(results.map((r) => r.incrementalRate))} rows/s = ${medianRange(results.map((r) => (100 * r.incrementalRate) / r.initialRate))} % of initial (target >= 50 %); concurrent writes p99 ${medianRange(results.map((r) => r.p99))} ms (target <= 100 ms)${streamingRates.length ? `; streaming in this run (throughput table): ${streamingRates.map((x) => fmt(x)).join(', ')} rows/s` : ''}`);
    }
    if (runs('latency')) {
      const l = await latency(db, nextId + 1_000_000);
      console.log(`\nlatency at ${fmt(l.achievedRate)} rows/s (single-row transactions, ${fmt(l.samples)} samples after warm-up; service in this process): p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms; peak RSS of this process ${mb(l.peakRss)}`);
    }
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${TABLE}, ${SNAP_TABLE}, ${SNAP_STREAM_TABLE}; DROP PUBLICATION IF EXISTS ${PUBLICATION}; DROP PUBLICATION IF EXISTS ${SNAP_PUBLICATION}; DROP PROCEDURE IF EXISTS bench_cdc_load`).catch(() => undefined);
    await db.end();
    clearInterval(rssSampler);
    if (portBase && opts.stopStack) await stackDown(config, (l) => console.log(`  ${l}`));
  }
}

await main();
