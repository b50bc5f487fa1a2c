/**
 * `npm run bench -- bronze [--messages 1000000] [--writer-rows 50000] [--only writers|e2e] [--keep] [--envelope cdc|minimal] [--no-schema-link] [--no-context-headers] [--writers 1]`
 *
 * 1. Parquet writers on the same bronze rows (files of 10,000 rows, the default rotation):
 *    parquetjs-lite (baseline), @dsnp/parquetjs, DuckDB; rows/s, bytes, ratio to the baseline.
 * 2. Kafka -> Parquet on MinIO: a backlog of `--messages` change events (3 partitions) is
 *    produced first; a bare consumer of the project's Kafka client (services/common/kafka) reading
 *    it is the baseline; then the real service
 *    (`services/bronze-writer/main.ts`, default settings) runs as a child process until every
 *    offset is committed: rows/s and peak RSS (VmHWM) of that process, its CPU per row (whole
 *    process, and from the group join on, without the start-up), and how busy the machine's cores
 *    were meanwhile (/proc/stat; Kafka and MinIO share them). `--writers N` runs N
 *    processes in the same consumer group (the partitions split between them, as a deployment
 *    scales out): rows/s of the group, the highest peak RSS and the summed CPU.
 *    Targets (issue 4): >= 100,000 rows/s and peak RSS <= 300 MB with 1,000,000 messages.
 *
 * `--envelope minimal` produces the envelope without Debezium 3.6.1's extra fields and headers (the CDC
 * service's output before issue 12), to compare with the default `cdc` (what the service writes now).
 * With `cdc`, every message also carries the header `lakehouse.schema.id` and the schema topic holds
 * its document, as the CDC service produces them (issue 13); `--no-schema-link` leaves them out, and
 * `--no-context-headers` leaves out Debezium's `__debezium.context.*` headers (the CDC service with
 * CDC_EXTENDED_HEADERS=false), to measure what the headers cost apart from the envelope's fields.
 *
 * Uses the stack of the environment (`npm run stack -- up`), or with TEST_STACK_PORT_BASE set,
 * starts/uses the test stack on those ports. BENCH_WRITER_LOG=<file> appends the service's log lines there.
 */
import { execSync, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig, REPO_ROOT } from '../services/common/config.ts';
import { openLake } from '../services/common/lake-storage.ts';
import { decodeBronzeMessage, type BronzeRow } from '../services/bronze-writer/bronze-row.ts';
import { DuckDbParquetEncoder, inBatches, type ParquetEncoder } from '../services/bronze-writer/parquet.ts';
import { encodeTableSchema, SCHEMA_ID_HEADER, schemaTopic, withSchemaId } from '../services/common/contracts/table-schema.ts';
import { activityMessages, committedOffsets, createTopic, kafkaClient, manifestEntries, produce, type EnvelopeFormat } from '../services/bronze-writer/testing/bronze-kit.ts';
import { createConsumer } from '../services/common/kafka/index.ts';
import { createLogger } from '../services/common/logger.ts';
import { ensureKafkaAccess, stackUp } from '../scripts/lib/stack.ts';
import { describeBusy, machineCpu, processCpuMicros, type MachineCpuSample } from '../scripts/lib/proc-stats.ts';
import { testEnv } from '../tests/support/test-env.ts';
import { parquetJsEncoder } from './lib/parquetjs-encoders.ts';

const opts = new Command('bench bronze')
  .option('--messages <n>', 'backlog size for the Kafka -> MinIO run', (v) => Number(v), 1_000_000)
  .option('--writer-rows <n>', 'rows for the Parquet writer comparison', (v) => Number(v), 50_000)
  .option('--only <part>', 'run only "writers" or "e2e"')
  .option('--keep', 'keep the benchmark topic and objects')
  .addOption(new Option('--envelope <format>', 'envelope shape of the backlog').choices(['cdc', 'minimal']).default('cdc'))
  .option('--no-schema-link', 'produce the backlog without the lakehouse.schema.id header (as before issue 13)')
  .option('--no-context-headers', "produce the backlog without Debezium's __debezium.context.* headers (CDC_EXTENDED_HEADERS=false)")
  .option('--writers <n>', 'bronze writer processes in the consumer group (at most the 3 partitions)', (v) => Number(v), 1)
  .parse(process.argv)
  .opts<{ messages: number; writerRows: number; only?: 'writers' | 'e2e'; keep?: boolean; envelope: EnvelopeFormat; schemaLink: boolean; contextHeaders: boolean; writers: number }>();
if (!Number.isInteger(opts.writers) || opts.writers < 1 || opts.writers > 3) {
  console.error('--writers: expected 1, 2 or 3 (the backlog has 3 partitions)');
  process.exit(2);
}

const portBase = process.env.TEST_STACK_PORT_BASE;
const env: NodeJS.ProcessEnv = portBase ? { ...process.env, ...testEnv(Number(portBase)) } : { ...process.env };
const config = loadConfig(env);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MB`;

/** Decoded bronze rows of `count` generated change events (tombstones dropped). */
function bronzeRows(count: number): BronzeRow[] {
  const rows: BronzeRow[] = [];
  let offset = 0;
  for (const m of activityMessages(count, 1)) {
    const decoded = decodeBronzeMessage({ offset: offset++, timestampMs: Date.now(), key: Buffer.from(m.key), value: m.value === null ? null : Buffer.from(m.value) });
    if (decoded.kind === 'row') rows.push(decoded.row);
  }
  return rows.slice(0, count);
}

/** Row count DuckDB reads back from a Parquet file (checks each writer's output is valid). */
async function parquetRowCount(bytes: Buffer, dir: string): Promise<number> {
  const file = path.join(dir, 'check.parquet');
  await writeFile(file, bytes);
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const rows = (await con.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${file}')`)).getRowObjectsJS();
    return Number(rows[0]!.n);
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

async function benchWriters(): Promise<void> {
  const rows = bronzeRows(opts.writerRows);
  const perFile = config.bronze.maxRows;
  const files: BronzeRow[][] = [];
  for (let i = 0; i < rows.length; i += perFile) files.push(rows.slice(i, i + perFile));
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-parquet-'));
  const candidates: { name: string; codec: string; open: () => Promise<ParquetEncoder> }[] = [
    { name: 'parquetjs-lite 0.8', codec: 'SNAPPY', open: async () => parquetJsEncoder('parquetjs-lite', 'SNAPPY', dir) },
    { name: 'parquetjs-lite 0.8', codec: 'GZIP', open: async () => parquetJsEncoder('parquetjs-lite', 'GZIP', dir) },
    { name: '@dsnp/parquetjs 1.8', codec: 'SNAPPY', open: async () => parquetJsEncoder('@dsnp/parquetjs', 'SNAPPY', dir) },
    { name: '@dsnp/parquetjs 1.8', codec: 'GZIP', open: async () => parquetJsEncoder('@dsnp/parquetjs', 'GZIP', dir) },
    { name: 'DuckDB (node-api)', codec: 'SNAPPY', open: () => DuckDbParquetEncoder.open({ compression: 'snappy' }) },
    { name: 'DuckDB (node-api)', codec: 'ZSTD', open: () => DuckDbParquetEncoder.open({ compression: 'zstd' }) },
  ];
  console.log(`\n## Parquet writers: ${fmt(rows.length)} bronze rows in files of ${fmt(perFile)} rows (${mb(rows.reduce((a, r) => a + (r.after?.length ?? 0) + (r.before?.length ?? 0) + 200, 0))} of row text)`);
  console.log('| writer | codec | rows/s | file bytes | x baseline (speed) | valid |');
  console.log('|---|---|---:|---:|---:|---|');
  let baseline = 0;
  try {
    for (const c of candidates) {
      const encoder = await c.open();
      const ingestedAt = new Date();
      await encoder.encode({ topic: 't', partition: 0, batches: inBatches(files[0]!), ingestedAt }); // warm-up
      const t0 = performance.now();
      let bytes = 0;
      let last: Buffer = Buffer.alloc(0);
      for (const f of files) {
        last = (await encoder.encode({ topic: 'sport.public.activities', partition: 0, batches: inBatches(f), ingestedAt }))!;
        bytes += last.length;
      }
      const rate = rows.length / ((performance.now() - t0) / 1000);
      await encoder.close();
      baseline ||= rate;
      const valid = (await parquetRowCount(last, dir)) === files.at(-1)!.length;
      console.log(`| ${c.name} | ${c.codec} | ${fmt(rate)} | ${mb(bytes)} | ${fmt(rate / baseline, 2)} | ${valid ? 'yes' : 'NO'} |`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Peak and current resident set of a process, in bytes, from /proc. */
function memoryOf(pid: number): { hwm: number; rss: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return undefined;
  }
}

async function benchEndToEnd(): Promise<void> {
  const run = `bench${Date.now().toString(36)}`;
  const topic = `${run}.public.activities`;
  const kafka = kafkaClient(config.kafka.brokers);
  const { admin, producer } = kafka;
  await admin.listTopics().catch((err: Error) => {
    throw new Error(`Kafka at ${config.kafka.brokers.join(',')} unreachable (${err.message}): start the stack (npm run stack -- up) or set TEST_STACK_PORT_BASE`);
  });
  const lakeUrl = `s3://${config.s3.bucket}/${run}`;
  const lake = openLake(config, lakeUrl);
  try {
    console.log(`\n## Kafka -> Parquet on MinIO: backlog of ${fmt(opts.messages)} messages (envelope ${opts.envelope}), topic ${topic} (3 partitions)`);
    await createTopic(admin, topic, 3);
    // As the CDC service produces them (docs/contracts/table-schemas.md): every message names its
    // table schema document, which the schema topic holds and the writer copies to the lake.
    let schemaHeaders: Record<string, string> | undefined;
    if (opts.schemaLink && opts.envelope === 'cdc') {
      const doc = withSchemaId({
        format: 1, source: { name: run, db: 'sport', schema: 'public', table: 'activities' }, topic, replicaIdentity: 'full', primaryKey: ['activity_id'],
        columns: [], generatedColumns: [], rendering: { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' },
      });
      await admin.ensureTopic(schemaTopic(run), 1, { configs: { 'cleanup.policy': 'compact' } });
      await producer.send({ messages: [{ topic: schemaTopic(run), key: doc.schemaId, value: encodeTableSchema(doc), partition: 0 }] });
      schemaHeaders = { [SCHEMA_ID_HEADER]: doc.schemaId };
    }
    console.log(schemaHeaders ? 'schema link: header lakehouse.schema.id on every message' : 'schema link: none');
    console.log(opts.contextHeaders && opts.envelope === 'cdc' ? "Debezium's __debezium.context.* headers (4) on every message" : 'no __debezium.context.* headers');
    let produced = 0;
    let tombstones = 0;
    const t0 = performance.now();
    for (let seed = 1; produced < opts.messages; seed++) {
      const batch = activityMessages(10_000, seed, undefined, opts.envelope).slice(0, opts.messages - produced);
      tombstones += batch.filter((m) => m.value === null).length;
      const withHeaders = batch.map((m) => ({ ...m, headers: { ...(opts.contextHeaders ? m.headers : {}), ...schemaHeaders } }));
      await produce(producer, topic, withHeaders, 10_000);
      produced += batch.length;
    }
    const produceS = (performance.now() - t0) / 1000;
    const rows = produced - tombstones;
    console.log(`produced ${fmt(produced)} messages (${fmt(tombstones)} tombstones) in ${fmt(produceS, 1)} s`);

    // Baseline: a consumer of the same client that only counts (the ceiling of the Kafka client).
    const bare = createConsumer(config, 'bench-bronze', createLogger('bench-bronze', 'warn'), { groupId: `${run}-bare`, maxBytesPerPartition: 1024 * 1024, maxBytes: 4 * 1024 * 1024, maxWaitTime: 500 });
    const bareStream = await bare.consume({ topics: [topic], mode: 'earliest' });
    let seen = 0;
    let bareStart = 0;
    const bareEnd = await new Promise<number>((resolve) => {
      bareStream.on('data', () => {
        bareStart ||= performance.now();
        if (++seen === produced) resolve(performance.now());
      });
    });
    const bareS = (bareEnd - bareStart) / 1000;
    await bareStream.close();
    await bare.close(true);
    const bareRate = produced / bareS;
    console.log(`baseline: bare consumer read ${fmt(produced)} messages in ${fmt(bareS, 1)} s = ${fmt(bareRate)} msg/s`);

    // The service itself, started by the command of `npm run bronze` (`exec`, so that the pid
    // measured is the Node.js process's).
    const group = `${run}-bronze`;
    const script = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.bronze!;
    // The script builds the bundle, then runs it: build first, then exec the run command.
    const steps = script.split(' && ');
    const runCommand = steps.pop()!;
    for (const step of steps) execSync(step, { cwd: REPO_ROOT, stdio: 'inherit' });
    const extraNodeArgs = process.env.BENCH_WRITER_NODE_ARGS ?? ''; // for tuning experiments; after the script's flags, so they can override them
    const serviceEnv = { ...env, KAFKA_TOPIC_PREFIX: run, BRONZE_CONSUMER_GROUP: group, LAKE_URL: lakeUrl, LOG_LEVEL: 'info', BRONZE_MAX_AGE_S: env.BRONZE_MAX_AGE_S ?? '2', BRONZE_PROGRESS_S: '5' };
    // The service authenticates as the bronze writer's principal: its ACLs for this run's namespace.
    await ensureKafkaAccess(loadConfig(serviceEnv));
    // Each process its own health port (0 = any free one): several run side by side.
    const children = Array.from({ length: opts.writers }, () =>
      spawn('sh', ['-c', `exec ${runCommand.replace(/ (dist\/\S+\.js)$/, ` ${extraNodeArgs} $1`)}`], {
        cwd: REPO_ROOT,
        // BRONZE_MAX_AGE_S=2: the last, partial file of each partition is written 2 s after its
        // first message instead of 60 s (the default), so the run measures throughput, not the wait.
        env: opts.writers > 1 ? { ...serviceEnv, BRONZE_HEALTH_PORT: '0' } : serviceEnv,
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const spawnedAt = performance.now();
    let assignedAt = 0;
    // CPU of the writers and of the machine when the group is joined: the start-up (module
    // loading, DuckDB) is not part of the per-row cost, and a 300,000-message run would carry
    // about 5 µs of it per row.
    let cpuAtJoin: { writers: number; machine: MachineCpuSample } | undefined;
    const writersCpu = () => children.reduce((sum, c) => sum + processCpuMicros(c.pid!), 0);
    const stoppedLines: Record<string, unknown>[] = [];
    children.forEach((child, index) => {
      let pending = '';
      child.stdout!.on('data', (d: Buffer) => {
        pending += d.toString();
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          if (process.env.BENCH_WRITER_LOG) appendFileSync(process.env.BENCH_WRITER_LOG, `${line}\n`);
          if (!line.startsWith('{')) continue; // e.g. --trace-gc output of a tuning run
          const msg = (JSON.parse(line) as { msg?: string }).msg;
          if (msg === 'partitions assigned' && !assignedAt) {
            assignedAt = performance.now();
            cpuAtJoin = { writers: writersCpu(), machine: machineCpu() };
          }
          if (msg === 'bronze writer stopped') stoppedLines.push(JSON.parse(line) as Record<string, unknown>);
          if (msg === 'progress') {
            const p = JSON.parse(line) as Record<string, number>;
            console.log(`  writer${opts.writers > 1 ? ` ${index + 1}` : ''}: ${fmt(p.messages!)} msgs, ${p.files} files, buffered ${mb(p.bufferedBytes!)}, rss ${mb(p.rssBytes!)}, heap ${mb(p.heapUsedBytes!)}/${mb(p.heapTotalBytes!)}, external ${mb(p.externalBytes!)}, paused ${String(p.paused)}`);
          }
        }
      });
    });
    const exits = children.map((child) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))));
    let peak = 0;
    let doneAt = 0;
    for (;;) {
      for (const child of children) {
        const mem = memoryOf(child.pid!);
        if (mem) peak = Math.max(peak, mem.hwm);
      }
      const committed = [...(await committedOffsets(admin, group, topic)).values()].reduce((a, b) => a + Math.max(0, b), 0);
      if (committed >= produced) {
        doneAt = performance.now();
        break;
      }
      const dead = children.find((c) => c.exitCode !== null);
      if (dead) throw new Error(`bronze writer exited with ${dead.exitCode} before the end`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const cpuAtEnd = { writers: writersCpu(), machine: machineCpu() };
    for (const child of children) child.kill('SIGTERM');
    const codes = await Promise.all(exits);
    const code = codes.find((c) => c !== 0) ?? 0;
    const entries = await manifestEntries(lake, topic);
    const stored = entries.reduce((a, e) => a + e.rows, 0);
    const fileBytes = entries.reduce((a, e) => a + e.bytes, 0);
    const consumeS = (doneAt - (assignedAt || spawnedAt)) / 1000;
    const rate = rows / consumeS;
    const selfReported = Math.max(0, ...stoppedLines.map((l) => Number(l.maxRssBytes ?? 0)));
    console.log('\n| measure | value | target |');
    console.log('|---|---:|---|');
    console.log(`| rows stored / expected | ${fmt(stored)} / ${fmt(rows)} in ${fmt(entries.length)} files (${mb(fileBytes)}) | all |`);
    console.log(`| time, group joined -> all offsets committed | ${fmt(consumeS, 1)} s (${fmt((doneAt - spawnedAt) / 1000, 1)} s from process start) | |`);
    console.log(`| rows/s Kafka -> Parquet on MinIO | ${fmt(rate)} (${fmt(produced / consumeS)} msg/s) | >= 100,000 ${rate >= 100_000 ? 'met' : 'MISSED'} |`);
    console.log(`| ratio to the bare consumer | ${fmt(produced / consumeS / bareRate, 2)} | |`);
    console.log(`| peak RSS (VmHWM) of the writer process${opts.writers > 1 ? ` (highest of ${opts.writers})` : ''} | ${mb(Math.max(peak, selfReported))} | <= 300 MB ${Math.max(peak, selfReported) <= 300 * 1024 * 1024 ? 'met' : 'MISSED'} |`);
    const cpuSeconds = stoppedLines.reduce((a, l) => a + Number(l.cpuSeconds ?? 0), 0);
    console.log(`| CPU time of the writer process${opts.writers > 1 ? `es (${opts.writers}, summed)` : ''} (all threads) | ${fmt(cpuSeconds, 1)} s = ${fmt((cpuSeconds * 1e6) / rows, 1)} µs per row | |`);
    if (cpuAtJoin) {
      const steady = cpuAtEnd.writers - cpuAtJoin.writers;
      console.log(`| CPU of the writer process${opts.writers > 1 ? 'es' : ''}, group joined -> all committed | ${fmt(steady / 1e6, 1)} s = ${fmt(steady / rows, 1)} µs per row | |`);
      console.log(`| machine CPU, group joined -> all committed | ${describeBusy(cpuAtJoin.machine, cpuAtEnd.machine, { label: `writer${opts.writers > 1 ? 's' : ''}`, cpuMicros: steady })} | |`);
    }
    console.log(`| consumption paused by back-pressure (BRONZE_MAX_BUFFERED_BYTES reached) | ${fmt(Math.max(0, ...stoppedLines.map((l) => Number(l.pausedMs ?? 0))) / 1000, 1)} s | |`);
    console.log(`| exit code after SIGTERM | ${code} | 0 |`);
    if (stored !== rows) throw new Error(`stored ${stored} rows, expected ${rows}`);
  } finally {
    if (!opts.keep) {
      for await (const o of lake.list('')) await lake.delete(o.key);
      await admin.deleteTopics([topic, schemaTopic(run)]).catch(() => undefined);
    }
    lake.close();
    await kafka.close();
  }
}

if (portBase) await stackUp(config, (l) => console.log(`[stack] ${l}`));
console.log(`# bench bronze (${new Date().toISOString()}, node ${process.version}, ${config.kafka.brokers.join(',')}, ${config.s3.endpoint})`);
if (opts.only !== 'e2e') await benchWriters();
if (opts.only !== 'writers') await benchEndToEnd();
process.exit(0);
