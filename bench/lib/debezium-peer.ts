/**
 * Debezium as the peer of the CDC benchmark (`npm run bench -- cdc --peer debezium`): Debezium 3.6.1
 * on Kafka Connect 4.3.0 standalone (scripts/lib/debezium-connect.ts, stock JVM flags and producer
 * settings, JSON converter without schemas) streams the same WAL backlog as pg_recvlogical and the
 * CDC service, from a slot of its own created before the WAL was written (`snapshot.mode=no_data`).
 *
 * Measured like the service: from the moment Debezium reads the replication stream ("Processing
 * messages" in its log) until its topic holds every row; CPU (utime + stime of the JVM, JIT and GC
 * threads included) over that interval per row, and the JVM's peak RSS while streaming. The JVM's
 * start-up (about 10-20 s here) is left out, as the service's is.
 *
 * The Kafka calls come from the caller (creating the topic, counting its records), so this module
 * does not depend on a Kafka client.
 */
import path from 'node:path';
import type { Config } from '../../services/common/config.ts';
import { REPO_ROOT } from '../../services/common/config.ts';
import { DebeziumConnect } from '../../scripts/lib/debezium-connect.ts';

export interface DebeziumPeerRun {
  config: Config;
  /** An existing pgoutput slot positioned before the backlog. */
  slot: string;
  publication: string;
  /** `schema.table` streamed. */
  table: string;
  rows: number;
  /** Topic prefix of this run; the topic is `<prefix>.<table>`. */
  topicPrefix: string;
  /** Connect's REST port (keep it in your port range). */
  restPort: number;
  /** Creates the topic with the benchmark's partition count, so its offsets can be polled from the start. */
  createTopic(topic: string): Promise<void>;
  /** Records in the topic (sum of the partitions' high watermarks); 0 when it does not exist. */
  topicRecords(topic: string): Promise<number>;
  /** Deletes the topic once measured. */
  deleteTopic(topic: string): Promise<void>;
}

export interface DebeziumPeerResult {
  seconds: number;
  cpuMicrosPerRow: number;
  peakRss: number;
  /** JVM start until Debezium streams, seconds (not part of the rate). */
  startupSeconds: number;
}

/** Runs Debezium over the backlog; stops it (SIGTERM) afterwards. @throws if it fails or stalls for 10 minutes. */
export async function runDebeziumPeer(run: DebeziumPeerRun): Promise<DebeziumPeerResult> {
  const topic = `${run.topicPrefix}.${run.table}`;
  await run.createTopic(topic);
  const base = await run.topicRecords(topic);
  const t00 = performance.now();
  const connect = DebeziumConnect.start(run.config, {
    dir: path.join(REPO_ROOT, '.local', `bench-debezium-${run.topicPrefix}`),
    restPort: run.restPort,
    topicPrefix: run.topicPrefix,
    slot: run.slot,
    publication: run.publication,
    tables: [run.table],
    snapshotMode: 'no_data',
    partitions: run.config.kafka.topicPartitions,
  });
  try {
    await connect.waitStreaming(300_000);
    const t0 = performance.now();
    const cpu0 = connect.cpuMicros();
    let peak = connect.rss();
    for (;;) {
      if (!connect.running) throw new Error(`Kafka Connect exited while streaming; log ${connect.logFile}`);
      if (performance.now() - t0 > 600_000) throw new Error(`${run.rows} rows not in ${topic} after 10 minutes; log ${connect.logFile}`);
      peak = Math.max(peak, connect.rss());
      if ((await run.topicRecords(topic)) - base >= run.rows) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = connect.cpuMicros() - cpu0;
    return { seconds, cpuMicrosPerRow: cpu / run.rows, peakRss: Math.max(peak, connect.rss()), startupSeconds: (t0 - t00) / 1000 };
  } finally {
    await connect.stop();
    await run.deleteTopic(topic);
  }
}
