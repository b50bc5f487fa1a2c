/**
 * The completeness watermark (issue 17): up to which source commit a refresh's inputs are
 * complete, so gold can say "figures complete through <time>".
 *
 * A {@link Checkpoint} ties a time of the source server to positions in Kafka:
 * 1. `SELECT clock_timestamp(), pg_current_wal_lsn()` on the source: every transaction that
 *    committed before `at` has its commit record below `lsn`;
 * 2. wait until the CDC slot's `confirmed_flush_lsn` reaches `lsn`: the CDC service confirms a
 *    position only after the broker acknowledged every event up to it (docs/contracts/
 *    change-events.md, "Delivery"), and it confirms keepalive positions when idle, so every event
 *    of those commits is now in Kafka;
 * 3. read the high watermark (next offset) of every topic-partition of the source that bronze
 *    consumes: those events are below it.
 * The checkpoint is *covered* once the bronze writer's consumer group has committed at least that
 * offset on every partition: the writer commits only after the Parquet object and its manifest are
 * stored (tombstones and dead letters included), so every object below is listed in the manifests.
 * A refresh that reads the group's committed offsets BEFORE it lists bronze, and finds a checkpoint
 * covered, reads every event of every commit up to `at`: its figures are complete through `at`.
 *
 * The watermark only concerns the source whose slot is CDC_SLOT_NAME on POSTGRES_HOST and whose
 * topics start with KAFKA_TOPIC_PREFIX (the source the sport-rewards product binds by default).
 * Roles: the monitor role (slot state and WAL position, no table), the Kafka admin client.
 */
import type { Logger } from 'pino';
import pg from 'pg';
import { pgConnection, type RefreshConfig } from '../common/config.ts';
import type { Completeness } from '../common/contracts/run-log.ts';
import { KafkaAdmin } from '../common/kafka/index.ts';
import { selectTopics } from '../bronze-writer/topics.ts';

/** A source time tied to Kafka positions (see the module documentation). */
export interface Checkpoint {
  /** Source server time: commits before it are covered by `lsn`. */
  at: Date;
  /** pg_current_wal_lsn() read at `at`, confirmed by the CDC slot. */
  lsn: string;
  /** Next offset per `topic/partition` once `lsn` was confirmed. */
  highWatermarks: ReadonlyMap<string, number>;
}

/** What a refresh asks before it lists bronze: the watermark its inputs will be complete through. */
export interface CompletenessSource {
  /** The newest covered checkpoint, or null when none is; never throws (problems are logged). */
  establish(): Promise<Completeness | null>;
}

const tpKey = (topic: string, partition: number) => `${topic}/${partition}`;

/**
 * The newest checkpoint of `checkpoints` whose every partition the committed offsets cover
 * (pure). A partition with no committed offset is covered only while its high watermark is 0.
 */
export function newestCovered(checkpoints: readonly Checkpoint[], committed: ReadonlyMap<string, number>): Checkpoint | null {
  let best: Checkpoint | null = null;
  for (const c of checkpoints) {
    if (best && c.at <= best.at) continue;
    let covered = true;
    for (const [tp, high] of c.highWatermarks) {
      if (high > (committed.get(tp) ?? 0)) {
        covered = false;
        break;
      }
    }
    if (covered) best = c;
  }
  return best;
}

/**
 * Takes checkpoints and tells which is covered. Keeps the last `keep` checkpoints, so a refresh
 * that starts while bronze is a little behind still finds an earlier one covered (the watch mode
 * takes one per poll).
 */
export class CompletenessTracker implements CompletenessSource {
  private readonly history: Checkpoint[] = [];
  private admin: KafkaAdmin | null = null;
  private db: pg.Client | null = null;

  constructor(
    private readonly config: RefreshConfig,
    private readonly logger: Logger,
    private readonly keep = 120,
  ) {}

  private async pg(): Promise<pg.Client> {
    if (this.db) return this.db;
    const client = new pg.Client({ ...pgConnection(this.config, 'monitor'), application_name: 'sport-lakehouse-refresh-watermark', connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined); // a dropped connection is reported by the next query
    await client.connect();
    this.db = client;
    return client;
  }

  private kafka(): KafkaAdmin {
    this.admin ??= KafkaAdmin.create(this.config, 'refresh', this.logger.child({ component: 'kafka' }) as Logger, { connectTimeout: 5_000, timeout: 10_000, retries: 2, retryDelay: 200 });
    return this.admin;
  }

  /** The data topics of the source that bronze consumes. */
  private async topics(): Promise<string[]> {
    const prefix = `${this.config.kafka.topicPrefix}.`;
    const selected = selectTopics(await this.kafka().listTopics(), this.config.bronze);
    return selected.filter((t) => t.startsWith(prefix));
  }

  /** Takes a checkpoint (null when the CDC did not confirm the position in time, or has no slot). @throws on unreachable PostgreSQL/Kafka */
  async checkpoint(): Promise<Checkpoint | null> {
    const db = await this.pg();
    const now = await db.query<{ at: Date; lsn: string }>('SELECT clock_timestamp() AS at, pg_current_wal_lsn()::text AS lsn');
    const { at, lsn } = now.rows[0]!;
    const deadline = Date.now() + this.config.refresh.checkpointTimeoutMs;
    for (;;) {
      const slot = await db.query<{ done: boolean | null }>('SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1', [this.config.cdc.slotName, lsn]);
      if (slot.rowCount === 0) return null;
      if (slot.rows[0]!.done === true) break;
      if (Date.now() >= deadline) {
        this.logger.debug({ lsn, slot: this.config.cdc.slotName }, 'completeness checkpoint: the CDC slot did not confirm the WAL position in time');
        return null;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const highWatermarks = new Map<string, number>();
    const admin = this.kafka();
    for (const topic of await this.topics()) {
      for (const p of await admin.fetchTopicOffsets(topic)) highWatermarks.set(tpKey(topic, p.partition), Number(p.high));
    }
    const checkpoint = { at, lsn, highWatermarks };
    this.history.push(checkpoint);
    if (this.history.length > this.keep) this.history.shift();
    return checkpoint;
  }

  /** The bronze writer group's committed offsets per `topic/partition` (next offset to read). */
  async committed(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const topics = await this.topics();
    if (topics.length === 0) return out;
    for (const t of await this.kafka().fetchOffsets(this.config.bronze.consumerGroup, topics)) {
      for (const p of t.partitions) if (Number(p.offset) >= 0) out.set(tpKey(t.topic, p.partition), Number(p.offset));
    }
    return out;
  }

  /** The checkpoints taken so far, oldest first. */
  checkpoints(): readonly Checkpoint[] {
    return this.history;
  }

  /** Takes a checkpoint, then reads the committed offsets: the newest covered checkpoint. */
  async establish(): Promise<Completeness | null> {
    try {
      await this.checkpoint();
      const covered = newestCovered(this.history, await this.committed());
      return covered ? { at: covered.at, lsn: covered.lsn, partitions: covered.highWatermarks.size } : null;
    } catch (err) {
      this.logger.warn({ err }, 'completeness watermark not established (PostgreSQL or Kafka unreachable): gold keeps the previous one');
      await this.reset();
      return null;
    }
  }

  private async reset(): Promise<void> {
    const db = this.db;
    this.db = null;
    await db?.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.reset();
    const admin = this.admin;
    this.admin = null;
    await admin?.close().catch(() => undefined);
  }
}
