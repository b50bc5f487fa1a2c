/**
 * The bronze writer on the real test stack (Kafka + MinIO): exact rows, dead letters, a kill -9
 * between upload and commit, a replay from offset zero, a MinIO outage and a Kafka restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KafkaAdmin, KafkaProducer } from '../common/kafka/index.ts';
import { grantKafkaAccess, readRecords } from '../../tests/support/kafka.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT, type Config } from '../common/config.ts';
import { openLake } from '../common/lake-storage.ts';
import { createLogger } from '../common/logger.ts';
import { startService, stopService } from '../../scripts/lib/stack.ts';
import { bronzeObjectKey, manifestKey } from '../common/contracts/bronze-object.ts';
import {
  activityMessages,
  bronzeKeys,
  committedOffsets,
  createTopic,
  kafkaClient,
  manifestEntries,
  produce,
  readBronze,
  readTopic,
  waitForCommitted,
  type BronzeRecord,
  type CdcMessage,
  type PlacedMessage,
} from './testing/bronze-kit.ts';
import { BronzeWriter } from './writer.ts';

const RUN = Date.now().toString(36);
let kafka: ReturnType<typeof kafkaClient>;
let admin: KafkaAdmin;
let producer: KafkaProducer;
let serial = 0;

/** A fresh topic, group and lake prefix per test, so tests never see each other's data. */
function scenario(overrides: Record<string, string> = {}) {
  const name = `bw${RUN}x${++serial}`;
  const env = {
    ...process.env,
    KAFKA_TOPIC_PREFIX: name,
    BRONZE_CONSUMER_GROUP: `${name}-bronze`,
    LAKE_URL: `s3://${loadConfig().s3.bucket}/${name}`,
    BRONZE_MAX_ROWS: '250',
    BRONZE_MAX_AGE_S: '1',
    BRONZE_TOPIC_REFRESH_S: '1',
    LOG_LEVEL: 'warn',
    ...overrides,
  };
  const config = loadConfig(env);
  return { name, env, config, topic: `${name}.public.activities`, group: config.bronze.consumerGroup, lake: openLake(config) };
}

function startWriter(config: Config): Promise<BronzeWriter> {
  const writer = new BronzeWriter({ config, logger: createLogger('bronze-writer', config.logLevel) });
  return writer.start().then(() => writer);
}

/** Starts a writer whose log lines (info and above) are kept, parsed, in `lines`. */
async function startWriterKeepingLog(config: Config): Promise<{ writer: BronzeWriter; lines: { level: number; msg: string }[] }> {
  const lines: { level: number; msg: string }[] = [];
  const writer = new BronzeWriter({ config, logger: createLogger('bronze-writer', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) }) });
  await writer.start();
  return { writer, lines };
}

/** The bronze row each produced message must become (tombstones and poison: none). */
function expectedRows(placed: PlacedMessage[], sent: CdcMessage[]) {
  const byValue = new Map(sent.filter((m) => m.value !== null).map((m) => [m.value, m]));
  return placed
    .filter((p) => p.value !== null && byValue.get(p.value)?.expected)
    .map((p) => ({
      topic: p.topic,
      partition: p.partition,
      offset: BigInt(p.offset),
      kafka_timestamp_ms: BigInt(p.timestampMs),
      ...byValue.get(p.value!)!.expected!,
    }));
}

const withoutIngestedAt = (rows: BronzeRecord[]) => rows.map(({ ingested_at: _ingestedAt, ...rest }) => rest);

/** Rows deduplicated by (topic, partition, offset), as silver does. */
function dedupe(rows: BronzeRecord[]) {
  const seen = new Map<string, BronzeRecord>();
  for (const r of rows) seen.set(`${r.topic}/${r.partition}/${r.offset}`, r);
  return [...seen.values()];
}

/** Manifest ranges per partition tile 0..end-1 without gaps (ranges may repeat after a crash). */
function expectRangesCoverEveryOffset(entries: { partition: number; firstOffset: number; lastOffset: number }[], placed: PlacedMessage[]) {
  for (const partition of new Set(placed.map((p) => p.partition))) {
    const end = Math.max(...placed.filter((p) => p.partition === partition).map((p) => p.offset)) + 1;
    const covered = new Set<number>();
    for (const e of entries.filter((x) => x.partition === partition)) for (let o = e.firstOffset; o <= e.lastOffset; o++) covered.add(o);
    const missing = [...Array(end).keys()].filter((o) => !covered.has(o));
    // Offsets of a trailing run without rows (tombstones) are committed but need no file.
    const trailingRowless = placed.filter((p) => p.partition === partition && missing.includes(p.offset) && p.value !== null);
    expect(trailingRowless, `partition ${partition}: offsets with rows not covered by any file`).toEqual([]);
  }
}

/** Runs the service's real entry point as a child process. */
function spawnService(script: string, env: NodeJS.ProcessEnv, args: string[] = []): ChildProcess & { output: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return Object.assign(child, { output: () => output, exited });
}

beforeAll(async () => {
  kafka = kafkaClient(loadConfig().kafka.brokers);
  admin = kafka.admin;
  producer = kafka.producer;
});

afterAll(async () => {
  await kafka?.close();
});

describe('bronze writer', () => {
  it('writes N events as zstd Parquet rows equal to the events, with a manifest entry per file', async () => {
    const s = scenario();
    await createTopic(admin, s.topic);
    const sent = activityMessages(1200, 1);
    await produce(producer, s.topic, sent);
    const t0 = new Date();
    const writer = await startWriter(s.config);
    try {
      await waitForCommitted(admin, s.group, s.topic);
    } finally {
      expect(await writer.stop()).toEqual({ complete: true, abandonedSegments: 0 });
    }
    const placed = await readTopic(kafka.target, s.topic);
    const keys = await bronzeKeys(s.lake, s.topic);
    const { rows, codecs } = await readBronze(s.lake, keys);

    expect(withoutIngestedAt(rows)).toEqual(expectedRows(placed, sent));
    expect(rows.length).toBe(1200);
    expect(codecs).toEqual(['ZSTD']);
    for (const r of rows) expect(r.ingested_at.getTime()).toBeGreaterThanOrEqual(t0.getTime() - 1000);

    const entries = await manifestEntries(s.lake, s.topic);
    expect(entries.map((e) => e.key).sort()).toEqual(keys);
    for (const e of entries) {
      const inFile = placed.filter((p) => p.partition === e.partition && p.offset >= e.firstOffset && p.offset <= e.lastOffset);
      expect(e.key).toBe(bronzeObjectKey(e, inFile[0]!.timestampMs));
      expect(e.rows).toBe(inFile.filter((p) => p.value !== null).length);
      expect(e.minKafkaTimestampMs).toBe(Math.min(...inFile.map((p) => p.timestampMs)));
      expect(e.bytes).toBe((await s.lake.get(e.key)).length);
      expect(await s.lake.exists(manifestKey(e))).toBe(true);
    }
    expectRangesCoverEveryOffset(entries, placed);
    s.lake.close();
  });

  it('picks up a topic created after it started (pattern), and never consumes a .dlq topic', async () => {
    // On the default storage: a local directory.
    const lakeDir = await mkdtemp(path.join(tmpdir(), 'bronze-lake-'));
    const s = scenario({ LAKE_URL: `file:${lakeDir}` });
    await createTopic(admin, s.topic, 1);
    const first = activityMessages(20, 8);
    await produce(producer, s.topic, first);
    const writer = await startWriter(s.config);
    const later = `${s.name}.public.employees`;
    try {
      await waitForCommitted(admin, s.group, s.topic);
      await createTopic(admin, later, 2);
      await createTopic(admin, `${s.topic}.dlq`, 1);
      await produce(producer, `${s.topic}.dlq`, [{ key: '{"x":1}', value: 'not for bronze' }]);
      const second = activityMessages(30, 9);
      await produce(producer, later, second);
      await waitForCommitted(admin, s.group, later, 30_000);
      const { rows } = await readBronze(s.lake, await bronzeKeys(s.lake, later));
      expect(withoutIngestedAt(rows)).toEqual(expectedRows(await readTopic(kafka.target, later), second));
    } finally {
      await writer.stop();
    }
    expect(await bronzeKeys(s.lake, `${s.topic}.dlq`)).toEqual([]);
    expect((await committedOffsets(admin, s.group, `${s.topic}.dlq`)).get(0)).toBe(-1);
    s.lake.close();
    await rm(lakeDir, { recursive: true, force: true });
  });

  it('dead-letters undecodable messages with reason and origin headers, and still writes the messages after them', async () => {
    // Encoding on a worker thread here (the other tests encode on the main thread).
    const s = scenario({ BRONZE_ENCODER_THREADS: '1' });
    await createTopic(admin, s.topic, 1);
    const before = activityMessages(30, 2);
    const after = activityMessages(30, 3);
    const poison = [
      { key: '{"activity_id":-1}', value: '{"before":null,"after":{"activity_id":-1}', expected: null },
      { key: '{"activity_id":-2}', value: '{"op":"x","source":{"ts_ms":1}}', expected: null },
    ];
    const sent = [...before, ...poison, ...after];
    await produce(producer, s.topic, sent);
    const writer = await startWriter(s.config);
    try {
      await waitForCommitted(admin, s.group, s.topic);
    } finally {
      await writer.stop();
    }
    const placed = await readTopic(kafka.target, s.topic);
    const { rows } = await readBronze(s.lake, await bronzeKeys(s.lake, s.topic));
    expect(withoutIngestedAt(rows)).toEqual(expectedRows(placed, sent));
    expect(rows.length).toBe(60);

    const dlq = await readTopic(kafka.target, `${s.topic}.dlq`);
    const poisonPlaced = placed.filter((p) => poison.some((x) => x.value === p.value));
    // Dead letters keep their key, so they spread over the DLQ partitions: compare as sets.
    const byKey = (a: { key: string | null }, b: { key: string | null }) => String(a.key).localeCompare(String(b.key));
    expect(dlq.map((m) => ({ key: m.key, value: m.value })).sort(byKey)).toEqual(poison.map((p) => ({ key: p.key, value: p.value })).sort(byKey));
    const headers = (await readRecords(kafka.target, `${s.topic}.dlq`)).map((r) => Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])));
    headers.sort((a, b) => Number(a['dlq.source.offset']) - Number(b['dlq.source.offset']));
    expect(headers.map((h) => [h['dlq.reason'], h['dlq.service'], h['dlq.source.topic'], h['dlq.source.partition'], h['dlq.source.offset']])).toEqual([
      ['invalid_json', 'bronze-writer', s.topic, '0', String(poisonPlaced[0]!.offset)],
      ['invalid_envelope', 'bronze-writer', s.topic, '0', String(poisonPlaced[1]!.offset)],
    ]);
    expect(headers[1]!['dlq.detail']).toBe('unknown op "x"');
    // The dead-lettered offsets are covered by the stored ranges, so they are committed.
    expectRangesCoverEveryOffset(await manifestEntries(s.lake, s.topic), placed);
    s.lake.close();
  });

  it('stores a valid envelope whose source.table holds a NUL byte as sent, and the partition moves on (issue 14)', async () => {
    // It used to make DuckDB fail ("unterminated quoted string": the name was spliced into SQL
    // text) and the writer retried that segment forever: the partition was blocked.
    const s = scenario();
    await createTopic(admin, s.topic, 1);
    const [template] = activityMessages(1, 11);
    const odd: CdcMessage = {
      key: template!.key,
      value: template!.value!.replace('"table":"activities"', '"table":"activ\\u0000ities"'),
      expected: { ...template!.expected!, source_table: 'activ\u0000ities' },
    };
    const sent = [...activityMessages(20, 12), odd, ...activityMessages(20, 13)];
    expect(odd.value).toContain('activ\\u0000ities');
    await produce(producer, s.topic, sent);
    const writer = await startWriter(s.config);
    try {
      await waitForCommitted(admin, s.group, s.topic, 30_000);
    } finally {
      await writer.stop();
    }
    const { rows } = await readBronze(s.lake, await bronzeKeys(s.lake, s.topic));
    expect(withoutIngestedAt(rows)).toEqual(expectedRows(await readTopic(kafka.target, s.topic), sent));
    expect(rows.filter((r) => r.source_table === 'activ\u0000ities')).toHaveLength(1);
    expect(writer.stats.deadLetters).toBe(0);
    s.lake.close();
  });

  it('loses nothing after a kill -9 between upload and offset commit; duplicates differ only in ingested_at', async () => {
    // A short session timeout: the restarted writer gets the partitions of the killed one sooner.
    const s = scenario({ BRONZE_MAX_AGE_S: '3', BRONZE_SESSION_TIMEOUT_S: '6', LOG_LEVEL: 'info' });
    await createTopic(admin, s.topic);
    const sent = activityMessages(3000, 4);
    await produce(producer, s.topic, sent);

    await grantKafkaAccess(s.env);
    const crashing = spawnService('services/bronze-writer/testing/crash-before-commit.ts', s.env, ['3']);
    const crash = await crashing.exited;
    expect(crash.signal, crashing.output()).toBe('SIGKILL');
    // At the crash, some stored file was not yet committed.
    const committedAtCrash = await committedOffsets(admin, s.group, s.topic);
    const entriesAtCrash = await manifestEntries(s.lake, s.topic);
    expect(entriesAtCrash.some((e) => e.lastOffset >= (committedAtCrash.get(e.partition) ?? -1))).toBe(true);

    const restarted = spawnService('services/bronze-writer/main.ts', s.env);
    try {
      await waitForCommitted(admin, s.group, s.topic, 90_000);
    } finally {
      restarted.kill('SIGTERM');
    }
    expect((await restarted.exited).code, restarted.output()).toBe(0);

    const placed = await readTopic(kafka.target, s.topic);
    const { rows } = await readBronze(s.lake, await bronzeKeys(s.lake, s.topic));
    const expected = expectedRows(placed, sent);
    expect(withoutIngestedAt(dedupe(rows))).toEqual(expected);
    // Every duplicate is the same row again: removing by (topic, partition, offset) loses nothing.
    const first = new Map(expected.map((r) => [`${r.topic}/${r.partition}/${r.offset}`, r]));
    for (const { ingested_at: _i, ...r } of rows) expect(r).toEqual(first.get(`${r.topic}/${r.partition}/${r.offset}`));
    expectRangesCoverEveryOffset(await manifestEntries(s.lake, s.topic), placed);
    s.lake.close();
  });

  it('on SIGTERM, stores the rows still buffered, commits them and exits 0', async () => {
    const s = scenario({ BRONZE_MAX_AGE_S: '600', BRONZE_PROGRESS_S: '0.2', LOG_LEVEL: 'info' });
    await createTopic(admin, s.topic);
    const sent = activityMessages(100, 7);
    await produce(producer, s.topic, sent);
    await grantKafkaAccess(s.env);
    const child = spawnService('services/bronze-writer/main.ts', s.env);
    const deadline = Date.now() + 60_000;
    // Consumed (not written: 100 rows stay below the 250-row limit, and the age limit is 10 min).
    while (!child.output().includes(`"messages":${sent.length},`)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`not consumed:\n${child.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await bronzeKeys(s.lake, s.topic)).toEqual([]);
    child.kill('SIGTERM');
    expect((await child.exited).code, child.output()).toBe(0);
    await waitForCommitted(admin, s.group, s.topic, 1000);
    const { rows } = await readBronze(s.lake, await bronzeKeys(s.lake, s.topic));
    expect(withoutIngestedAt(rows)).toEqual(expectedRows(await readTopic(kafka.target, s.topic), sent));
    s.lake.close();
  });

  it('refuses a replay while the group is live; after a replay from offset zero it rewrites the same object keys', async () => {
    // Small files and a 1 s age limit with pauses between bursts: boundaries depend on timing,
    // so only following the manifest can reproduce them.
    const s = scenario({ BRONZE_MAX_ROWS: '70', BRONZE_MAX_AGE_S: '1' });
    await createTopic(admin, s.topic);
    const sent = activityMessages(600, 5);
    let writer = await startWriter(s.config);
    for (let burst = 0; burst < 3; burst++) {
      await produce(producer, s.topic, sent.slice(burst * 205, (burst + 1) * 205));
      await new Promise((r) => setTimeout(r, 1600));
    }
    await waitForCommitted(admin, s.group, s.topic);

    const refused = spawnService('scripts/lakehouse.ts', s.env, ['replay', '--group', s.group, '--to-earliest']);
    expect((await refused.exited).code).toBe(1);
    expect(refused.output()).toContain(`consumer group "${s.group}" has 1 live member(s)`);
    await writer.stop();

    const keysBefore = await bronzeKeys(s.lake, s.topic);
    const manifestBefore = (await manifestEntries(s.lake, s.topic)).map((e) => e.key).sort();
    // Some files were cut by age, mid-partition: boundaries a plain re-read would not reproduce.
    const entries = await manifestEntries(s.lake, s.topic);
    const lastOf = (p: number) => Math.max(...entries.filter((e) => e.partition === p).map((e) => e.lastOffset));
    expect(entries.some((e) => e.rows < 70 && e.lastOffset < lastOf(e.partition))).toBe(true);

    const committedBefore = await committedOffsets(admin, s.group, s.topic);
    const dryRun = spawnService('scripts/lakehouse.ts', s.env, ['replay', '--group', s.group, '--to-earliest', '--dry-run']);
    expect((await dryRun.exited).code, dryRun.output()).toBe(0);
    expect(dryRun.output()).toContain(`${s.topic} [0]: ${committedBefore.get(0)} -> 0`);
    expect(await committedOffsets(admin, s.group, s.topic)).toEqual(committedBefore);
    const unknown = spawnService('scripts/lakehouse.ts', s.env, ['replay', '--group', s.group, '--to-earliest', '--topics', `${s.topic}.nope`]);
    expect((await unknown.exited).code).toBe(1);
    expect(unknown.output()).toContain(`topic(s) not found: ${s.topic}.nope`);

    const replay = spawnService('scripts/lakehouse.ts', s.env, ['replay', '--group', s.group, '--to-earliest', '--topics', s.topic]);
    expect((await replay.exited).code, replay.output()).toBe(0);
    expect(replay.output()).toContain(`${s.topic} [0]: `);
    expect([...(await committedOffsets(admin, s.group, s.topic)).values()]).toEqual([0, 0, 0]);

    const replayedAt = Date.now();
    writer = await startWriter(s.config);
    try {
      await waitForCommitted(admin, s.group, s.topic);
    } finally {
      await writer.stop();
    }
    const keysAfter = await bronzeKeys(s.lake, s.topic);
    expect(keysAfter).toEqual(keysBefore);
    expect((await manifestEntries(s.lake, s.topic)).map((e) => e.key).sort()).toEqual(manifestBefore);
    const { rows } = await readBronze(s.lake, keysAfter);
    // Every file was rewritten by the replay, and holds each event exactly once.
    for (const r of rows) expect(r.ingested_at.getTime()).toBeGreaterThanOrEqual(replayedAt - 1000);
    expect(withoutIngestedAt(rows)).toEqual(expectedRows(await readTopic(kafka.target, s.topic), sent));
    s.lake.close();
  });

  it('replays under a concurrent load with a tiny BRONZE_MAX_AGE_S: every recorded range comes back under its own key, no manifests overlap (issue 14)', async () => {
    // A 50 ms age limit and a 32 KiB buffer (back-pressure pauses all the time), and more than one
    // fetch (1 MiB per partition) of history: a replayed segment used to be sealed on age while
    // the next fetch was awaited, before its recorded end, and come back as two objects.
    const s = scenario({ BRONZE_MAX_ROWS: '200', BRONZE_MAX_AGE_S: '0.05', BRONZE_MAX_BUFFERED_BYTES: '32768' });
    await createTopic(admin, s.topic);
    const first = activityMessages(7500, 14);
    const load = activityMessages(1500, 15);
    let writer = await startWriter(s.config);
    for (let burst = 0; burst < 5; burst++) {
      await produce(producer, s.topic, first.slice(burst * 1500, (burst + 1) * 1500));
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitForCommitted(admin, s.group, s.topic);
    await writer.stop();
    const recorded = await manifestEntries(s.lake, s.topic);
    expect(recorded.length).toBeGreaterThan(25);

    for (const partition of [0, 1, 2]) await admin.setOffsets(s.group, s.topic, [{ partition, offset: '0' }]);
    const replayedAt = Date.now();
    writer = await startWriter(s.config);
    try {
      for (let burst = 0; burst < 10; burst++) {
        await produce(producer, s.topic, load.slice(burst * 150, (burst + 1) * 150));
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitForCommitted(admin, s.group, s.topic, 90_000);
    } finally {
      await writer.stop();
    }

    const entries = await manifestEntries(s.lake, s.topic);
    const byKey = new Map(entries.map((e) => [e.key, e]));
    const notRewritten = recorded.filter((e) => !byKey.has(e.key) || Date.parse(byKey.get(e.key)!.writtenAt) < replayedAt - 1000);
    expect(notRewritten.map((e) => e.key)).toEqual([]);
    for (const partition of [0, 1, 2]) {
      const ranges = entries.filter((e) => e.partition === partition).sort((a, b) => a.firstOffset - b.firstOffset);
      const overlapping = ranges.slice(1).filter((e, i) => e.firstOffset <= ranges[i]!.lastOffset);
      expect(overlapping.map((e) => e.key), `partition ${partition}: overlapping manifests`).toEqual([]);
    }
    const { rows } = await readBronze(s.lake, await bronzeKeys(s.lake, s.topic));
    expect(withoutIngestedAt(rows)).toEqual(expectedRows(await readTopic(kafka.target, s.topic), [...first, ...load]));
    s.lake.close();
  });

  it('keeps going through a 30 s MinIO outage: one warning, unhealthy meanwhile, nothing committed while down, nothing lost once back', async () => {
    const s = scenario({ BRONZE_MAX_ROWS: '200' });
    await createTopic(admin, s.topic);
    const sent = activityMessages(3000, 6);
    const { writer, lines } = await startWriterKeepingLog(s.config);
    let healthWhileDown: { healthy: boolean; detail: string } | undefined;
    try {
      await produce(producer, s.topic, sent.slice(0, 1000));
      await waitForCommitted(admin, s.group, s.topic);
      expect(writer.health()).toEqual({ healthy: true, detail: 'consuming' });

      await stopService(loadConfig(), 'minio');
      const down = Date.now();
      await produce(producer, s.topic, sent.slice(1000, 2000));
      await new Promise((r) => setTimeout(r, 3000));
      healthWhileDown = writer.health();
      const committedWhileDown = await committedOffsets(admin, s.group, s.topic);
      await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - down))));
      // Nothing of the second batch could be stored, so nothing of it was committed.
      expect(await committedOffsets(admin, s.group, s.topic)).toEqual(committedWhileDown);
      const total1000 = [...committedWhileDown.values()].reduce((a, b) => a + b, 0);
      expect(total1000).toBe(sent.slice(0, 1000).length);
      await startService(loadConfig(), 'minio');

      await produce(producer, s.topic, sent.slice(2000));
      await waitForCommitted(admin, s.group, s.topic, 90_000);
    } finally {
      await startService(loadConfig(), 'minio');
      await writer.stop();
    }
    const lake = openLake(s.config);
    const placed = await readTopic(kafka.target, s.topic);
    const { rows } = await readBronze(lake, await bronzeKeys(lake, s.topic));
    expect(withoutIngestedAt(dedupe(rows))).toEqual(expectedRows(placed, sent));
    expect(healthWhileDown).toMatchObject({ healthy: false, detail: expect.stringContaining('failing since') });
    const outage = lines.filter((l) => l.level >= 40 && !('component' in l));
    expect(outage, JSON.stringify(outage)).toHaveLength(1);
    expect(outage[0]?.msg).toMatch(/failed; retrying with backoff until it succeeds$/);
    expect(lines.filter((l) => l.msg === 'resumed')).toHaveLength(1);
    lake.close();
    s.lake.close();
  });

  it('rides out a Kafka restart by itself: its stream fails, it joins again with a new client, unhealthy meanwhile, every row stored once (issue 14)', async () => {
    const s = scenario({ BRONZE_MAX_ROWS: '200' });
    await createTopic(admin, s.topic);
    const sent = activityMessages(2000, 7);
    const { writer, lines } = await startWriterKeepingLog(s.config);
    let crashed: Error | undefined;
    void writer.crashed.then((err) => (crashed = err));
    let healthWhileDown: { healthy: boolean; detail: string } | undefined;
    try {
      await produce(producer, s.topic, sent.slice(0, 1000));
      await waitForCommitted(admin, s.group, s.topic);
      await stopService(loadConfig(), 'kafka');
      try {
        // Longer than the client's own retries of a fetch: the consumer's stream fails.
        await new Promise((r) => setTimeout(r, 15_000));
        healthWhileDown = writer.health();
      } finally {
        await startService(loadConfig(), 'kafka');
      }
      await produce(producer, s.topic, sent.slice(1000));
      await waitForCommitted(admin, s.group, s.topic, 120_000);
      expect(writer.health()).toEqual({ healthy: true, detail: 'consuming' });
    } finally {
      await startService(loadConfig(), 'kafka');
      await writer.stop();
    }
    expect(crashed).toBeUndefined();
    expect(healthWhileDown).toMatchObject({ healthy: false, detail: expect.stringContaining('failing since') });
    expect(lines.filter((l) => l.msg === 'consuming' || l.msg.startsWith('consuming failed'))).toMatchObject([{ msg: 'consuming' }, { msg: expect.stringMatching(/^consuming failed; joining the group again/) }, { msg: 'consuming' }]);
    // Everything before the restart was committed: nothing is stored twice, no manifests overlap.
    const placed = await readTopic(kafka.target, s.topic);
    const { rows } = await readBronze(s.lake, await bronzeKeys(s.lake, s.topic));
    expect(withoutIngestedAt(rows)).toEqual(expectedRows(placed, sent));
    const entries = await manifestEntries(s.lake, s.topic);
    for (const partition of new Set(entries.map((e) => e.partition))) {
      const ranges = entries.filter((e) => e.partition === partition).sort((a, b) => a.firstOffset - b.firstOffset);
      expect(ranges.slice(1).filter((e, i) => e.firstOffset <= ranges[i]!.lastOffset).map((e) => e.key)).toEqual([]);
    }
    s.lake.close();
  }, 300_000);
});
