/**
 * Where the CDC service keeps its incremental snapshot state (docs/contracts/incremental-snapshots.md,
 * services/common/contracts/snapshot-state.ts): the compacted topic
 * `__cdc_snapshots.<KAFKA_TOPIC_PREFIX>.<CDC_SLOT_NAME>` (1 partition, cleanup.policy=compact),
 * one record per key. Debezium keeps the same facts in its connector offsets; this service has no
 * offset store besides the slot, and the slot cannot hold them.
 *
 * - {@link readSnapshotStates}: every record, read up to the topic's end (the CDC service at start,
 *   the ops CLI);
 * - {@link SnapshotStateMemory}: the service's copy, loaded once per process, then kept up to date
 *   by what it writes;
 * - {@link SnapshotStateWriter}: produces records (idempotent producer, acks=all) and resolves once
 *   the broker acknowledged them, so the service moves on (confirms a signal's LSN, starts the next
 *   chunk) only after its state is durable.
 */
import { randomUUID } from 'node:crypto';
import type { Config, KafkaSettings } from '../common/config.ts';
import {
  ACTIVE_STATUSES, encodeSnapshotState, parseSnapshotState, snapshotStateTopic, stateKey,
  type CapturedTables, type SnapshotRefusal, type SnapshotStateRecord, type TableSnapshotState,
} from '../common/contracts/snapshot-state.ts';
import { createConsumer, createProducer, KafkaAdmin, type KafkaProducer } from '../common/kafka/index.ts';
import type { Logger } from '../common/logger.ts';

/** The state topic of this configuration. */
export function stateTopicOf(config: KafkaSettings & Pick<Config, 'cdc'>): string {
  return snapshotStateTopic(config.kafka.topicPrefix, config.cdc.slotName);
}

/**
 * Every record of the state topic by key (the latest per key), read up to its end; an empty map
 * when the topic does not exist. Records that do not satisfy the contract are skipped, logged.
 * @throws the client's error (broker unreachable) or a timeout after `timeoutMs`.
 */
export async function readSnapshotStates(config: KafkaSettings & Pick<Config, 'cdc'>, logger: Logger, admin: KafkaAdmin, timeoutMs = 60_000): Promise<Map<string, SnapshotStateRecord>> {
  const topic = stateTopicOf(config);
  const out = new Map<string, SnapshotStateRecord>();
  if (!(await admin.listTopics()).includes(topic)) return out;
  const [offsets] = await admin.fetchTopicOffsets(topic);
  const end = BigInt(offsets?.high ?? '0');
  if (end === 0n || BigInt(offsets?.low ?? '0') >= end) return out;
  const consumer = createConsumer(config, 'cdc-snapshot-state', logger, { groupId: `${config.cdc.slotName}.snapshot-state.${randomUUID()}`, maxWaitTime: 250 });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    const timer = setTimeout(() => stream.destroy(new Error(`reading ${topic} timed out after ${timeoutMs} ms`)), timeoutMs);
    try {
      for await (const m of stream) {
        const key = m.key?.toString('utf8') ?? '';
        if (m.value === undefined || m.value === null || m.value.length === 0) out.delete(key);
        else {
          try {
            out.set(key, parseSnapshotState(m.value.toString('utf8')));
          } catch (err) {
            logger.error({ err, topic, offset: String(m.offset), key }, 'incremental snapshot state record does not satisfy its contract; ignored');
          }
        }
        if (m.offset + 1n >= end) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => undefined);
    }
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
  return out;
}

/** The service's copy of the state (one per process, across sessions). */
export class SnapshotStateMemory {
  readonly records = new Map<string, SnapshotStateRecord>();
  loaded = false;

  load(records: Map<string, SnapshotStateRecord>): void {
    this.records.clear();
    for (const [k, v] of records) this.records.set(k, v);
    this.loaded = true;
  }

  set(record: SnapshotStateRecord): void {
    this.records.set(stateKey(record), record);
  }

  /** The table's latest snapshot record. */
  table(table: string): TableSnapshotState | undefined {
    const r = this.records.get(`table:${table}`);
    return r?.kind === 'table' ? r : undefined;
  }

  tables(): TableSnapshotState[] {
    return [...this.records.values()].filter((r): r is TableSnapshotState => r.kind === 'table');
  }

  /** Snapshots still to run: running first, then queued, each by request time. */
  active(): TableSnapshotState[] {
    const rank = (s: TableSnapshotState) => (s.status === 'running' ? 0 : 1);
    return this.tables()
      .filter((s) => ACTIVE_STATUSES.includes(s.status))
      .sort((a, b) => rank(a) - rank(b) || a.requestedAt.localeCompare(b.requestedAt));
  }

  captured(): CapturedTables | undefined {
    const r = this.records.get('captured');
    return r?.kind === 'captured' ? r : undefined;
  }

  /** True when a request with this id was accepted or refused already (a replayed signal). */
  knowsRequest(id: string): boolean {
    if (this.records.has(`refusal:${id}`)) return true;
    return this.tables().some((s) => s.id === id);
  }

  refusal(id: string): SnapshotRefusal | undefined {
    const r = this.records.get(`refusal:${id}`);
    return r?.kind === 'refusal' ? r : undefined;
  }
}

/** Produces state records to the state topic; see the module comment. */
export class SnapshotStateWriter {
  readonly topic: string;
  private readonly producer: KafkaProducer;
  private readonly admin: KafkaAdmin;

  constructor(config: KafkaSettings & Pick<Config, 'cdc'>, private readonly memory: SnapshotStateMemory, private readonly logger: Logger, clientLogger: Logger = logger) {
    this.topic = stateTopicOf(config);
    this.producer = createProducer(config, 'cdc-snapshot-state', clientLogger);
    this.admin = KafkaAdmin.create(config, 'cdc-snapshot-state', clientLogger);
  }

  /** Creates the topic when missing (1 partition, compacted); loads the memory once per process. */
  async connect(config: KafkaSettings & Pick<Config, 'cdc'>, readerLogger: Logger): Promise<void> {
    if (await this.admin.ensureTopic(this.topic, 1, { configs: { 'cleanup.policy': 'compact' } })) {
      this.logger.info({ topic: this.topic }, 'created the incremental snapshot state topic (compacted)');
    }
    if (!this.memory.loaded) {
      this.memory.load(await readSnapshotStates(config, readerLogger, this.admin));
      const active = this.memory.active();
      if (active.length > 0) this.logger.info({ topic: this.topic, snapshots: active.map((s) => ({ table: s.table, status: s.status, chunks: s.chunks, rows: s.rows })) }, 'incremental snapshots to resume');
    }
  }

  /** Writes `records` in order and resolves once the broker acknowledged them; the memory follows at once. */
  async put(...records: SnapshotStateRecord[]): Promise<void> {
    for (const r of records) this.memory.set(r);
    await this.producer.send({ messages: records.map((r) => ({ topic: this.topic, key: stateKey(r), value: encodeSnapshotState(r), partition: 0 })) });
  }

  async disconnect(): Promise<void> {
    await this.producer.close(true).catch((err: Error) => this.logger.debug({ err }, 'closing the snapshot state producer'));
    await this.admin.close().catch((err: Error) => this.logger.debug({ err }, 'closing the snapshot state admin client'));
  }
}
