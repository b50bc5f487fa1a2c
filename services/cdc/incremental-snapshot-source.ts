/**
 * Incremental snapshots (Debezium's SignalBasedIncrementalSnapshotChangeEventSource; the DBLog
 * watermark algorithm): re-reads one table, or the rows of it matching a predicate, in
 * primary-key chunks while the stream goes on, and sends each row as op "r" with
 * `source.snapshot: "incremental"` (services/cdc/README.md, "Incremental snapshots";
 * docs/contracts/incremental-snapshots.md; docs/runbooks/incremental-snapshots.md).
 *
 * Requests:
 * - a signal in the WAL (`npm run lakehouse -- snapshot --table ...`, services/common/contracts/cdc-signal.ts),
 *   met in stream order ({@link IncrementalSnapshotChangeEventSource.handleMessage}); the slot's
 *   LSN is not confirmed past a signal before its outcome (queued, or refused with the reason) is
 *   in the state topic, so a crash never loses one, and a replay is recognised by its id;
 * - a table added to CDC_TABLES while the slot exists ({@link reconcileCapturedTables}).
 * One table at a time, in request order; a second request for a table with a snapshot queued or
 * running is refused, as is a table without a primary key or not captured.
 *
 * Each chunk (one DBLog window, incremental-snapshot-window.ts):
 * 1. the low watermark goes into the WAL (`pg_logical_emit_message`, non-transactional, flushed);
 * 2. a READ ONLY REPEATABLE READ transaction takes a snapshot, re-describes the table (a schema
 *    change gives a new schema document, produced before any row that names it), and reads the
 *    chunk with each row's `xmax`;
 * 3. the rows an unfinished transaction holds are set aside (their keys are read again later, see
 *    incremental-snapshot-query.ts), the others become op "r" events at the low watermark's LSN;
 * 4. the high watermark goes into the WAL; when the stream meets it, the rows whose key changed
 *    in between are dropped and the rest is sent at that point of the stream;
 * 5. once the broker acknowledged them, the state record (last key, chunks, rows) is written: a
 *    restart resumes after the last finished chunk.
 * Two chunks may be in flight (the next is read while the stream reaches the previous one's high
 * watermark). Chunks end at the greatest key that existed when the table's scan began: rows
 * inserted later reach the topic through the stream.
 *
 * `source.lsn` of a chunk row is its low watermark's LSN: every change committed before the chunk
 * was read has a lower LSN, and every change that a consumer must prefer to the row (one streamed
 * after the window, by a transaction the chunk could not see) has a higher one, since rows held by
 * unfinished transactions are left out of the chunk. So ordering by LSN (silver) and ordering by
 * topic offset give the same latest row.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { CdcConfig } from '../common/config.ts';
import {
  encodeWatermark, parseSignalMessage, parseWatermark, SIGNAL_PREFIX, WATERMARK_PREFIX,
  type CdcSignal, type ExecuteSnapshotSignal, type StopSnapshotSignal,
} from '../common/contracts/cdc-signal.ts';
import { ACTIVE_STATUSES, snapshotPercent, type TableSnapshotState } from '../common/contracts/snapshot-state.ts';
import type { Logger } from '../common/logger.ts';
import { outsidePosition } from './ack-tracker.ts';
import type { RelationPlan } from './change-mapper.ts';
import { classifyFailure, type FailureComponent } from './error-handler.ts';
import type { EventSink } from './event-dispatcher.ts';
import {
  chunkQuery, classifyRows, estimateQuery, keysQuery, maxKeyQuery, parsePgSnapshot, planRows, predicateProblem, xidsToAsk,
} from './incremental-snapshot-query.ts';
import { ChunkWindows, type ChunkOutcome } from './incremental-snapshot-window.ts';
import { parseLsn } from './lsn.ts';
import type { OffsetContext, Position } from './offset-context.ts';
import type { LogicalMessage } from './pgoutput.ts';
import { describeTable, type TableDescription } from './postgres-catalog.ts';
import { cdcConnection, restrictToPublishedColumns } from './postgres-setup.ts';
import type { SourceParts } from './snapshot-source.ts';
import type { SnapshotStateMemory, SnapshotStateWriter } from './snapshot-state-store.ts';

/** Every column value as PostgreSQL's text output (rows render as in the stream). */
const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** Chunks read ahead of the stream (announced, not yet met at their high watermark). */
const PIPELINE_DEPTH = 2;
/** The scan pauses to read deferred keys again once this many chunks' worth are waiting. */
const DEFERRED_CHUNKS_LIMIT = 4;
/** Progress is logged at most this often. */
const PROGRESS_LOG_MS = 5_000;

/** Why a table without a primary key is refused (docs/runbooks/incremental-snapshots.md). */
export function keylessReason(table: string): string {
  return `${table} has no primary key: an incremental snapshot reads a table in primary-key chunks and drops a chunk row when a change of the same key streams meanwhile, which a table without a key cannot do. ` +
    'Add a primary key, or take a new snapshot of every table: npm run lakehouse -- reset-slot, then start the CDC service';
}

/** `schema.table` of a configured table. */
const nameOf = (t: { schema: string; table: string }) => `${t.schema}.${t.table}`;

/**
 * Describes a captured table as the snapshot reads it: its published columns (the publication's
 * column list) and primary key. Null when it does not exist.
 */
export async function describePublishedTable(db: Pick<pg.Client, 'query'>, publication: string, table: string): Promise<TableDescription | null> {
  const [schema, name] = table.split('.') as [string, string];
  const d = await describeTable(db, schema, name);
  if (!d) return null;
  await restrictToPublishedColumns(db, publication, [d]);
  return d;
}

/**
 * Checks a snapshot request as the CDC role (the service before it accepts a signal; the ops CLI
 * before it writes one): the table is captured, exists, has a primary key; the predicate is one
 * expression ({@link predicateProblem}) that PostgreSQL accepts as a condition on the table
 * (`EXPLAIN` in a READ ONLY transaction, nothing is executed).
 * @returns why the request is refused, or null.
 * @throws PostgreSQL connection errors.
 */
export async function snapshotRequestProblem(db: pg.Client, config: Pick<CdcConfig, 'cdc' | 'postgres'>, table: string, where: string | null): Promise<string | null> {
  if (!config.cdc.tables.some((t) => nameOf(t) === table)) {
    return `${table} is not captured by this CDC service (CDC_TABLES): add it to CDC_TABLES and restart the service, which snapshots an added table by itself`;
  }
  const d = await describePublishedTable(db, config.postgres.publication, table);
  if (!d) return `table ${table} does not exist in database ${config.postgres.database}`;
  if (d.primaryKey.length === 0) return keylessReason(table);
  const missing = d.primaryKey.filter((k) => !d.columns.some((c) => c.name === k));
  if (missing.length > 0) return `${table}: primary-key column(s) ${missing.join(', ')} not in the publication's column list`;
  if (where !== null) {
    const problem = predicateProblem(where);
    if (problem) return `--where: ${problem}`;
    await db.query('BEGIN READ ONLY');
    try {
      await db.query(estimateQuery(d, where));
    } catch (err) {
      if (!(err as { code?: string }).code) throw err;
      return `--where is not a valid condition on ${table}: ${(err as Error).message}`;
    } finally {
      await db.query('ROLLBACK').catch(() => undefined);
    }
  }
  return null;
}

/** A new table snapshot record for a request. */
export function newSnapshotState(input: { slot: string; table: string; id: string; trigger: 'signal' | 'table-added'; where: string | null; chunkRows: number; requestedAt: string; requestedBy: string }): TableSnapshotState {
  return {
    format: 1, kind: 'table', ...input, status: 'queued', reason: null, startedAt: null, updatedAt: new Date().toISOString(), finishedAt: null,
    primaryKey: [], maxKey: null, lastKey: null, scanDone: false, deferredKeys: [], chunks: 0, rows: 0, supersededRows: 0, estimatedRows: null,
  };
}

/**
 * Records which tables the slot captures, and queues an incremental snapshot of every table
 * added to CDC_TABLES since (when CDC_SNAPSHOT_MODE=initial). On a new slot (its initial snapshot
 * just read every table, or mode `never`), snapshots still queued or running are superseded.
 * @param newSlot the slot was created in this session.
 */
export async function reconcileCapturedTables(deps: { config: CdcConfig; logger: Logger; memory: SnapshotStateMemory; writer: SnapshotStateWriter }, newSlot: boolean): Promise<string[]> {
  const { config, logger, memory, writer } = deps;
  const now = new Date().toISOString();
  const tables = config.cdc.tables.map(nameOf);
  const captured = memory.captured();
  const records: Parameters<SnapshotStateWriter['put']> = [];
  const added: string[] = [];
  if (newSlot) {
    for (const s of memory.active()) {
      records.push({ ...s, status: 'superseded', reason: 'the replication slot was created again (its initial snapshot read every table)', updatedAt: now, finishedAt: now });
    }
  } else if (captured) {
    for (const t of tables) {
      if (captured.tables.includes(t)) continue;
      if (config.cdc.snapshotMode === 'never') {
        logger.info({ table: t }, 'table added to CDC_TABLES: streamed from now on, no snapshot (CDC_SNAPSHOT_MODE=never)');
        continue;
      }
      const current = memory.table(t);
      if (current && ACTIVE_STATUSES.includes(current.status)) continue;
      added.push(t);
      records.push(newSnapshotState({ slot: config.cdc.slotName, table: t, id: randomUUID(), trigger: 'table-added', where: null, chunkRows: config.cdc.incrementalChunkRows, requestedAt: now, requestedBy: 'CDC_TABLES' }));
    }
  } else {
    logger.info({ tables }, 'no record of the captured tables yet: recording CDC_TABLES (a table added later gets an incremental snapshot)');
  }
  const sameList = captured && captured.tables.length === tables.length && captured.tables.every((t) => tables.includes(t));
  if (!sameList || newSlot) records.push({ format: 1, kind: 'captured', slot: config.cdc.slotName, tables, at: now });
  if (records.length > 0) await writer.put(...records);
  if (added.length > 0) logger.info({ tables: added }, 'tables added to CDC_TABLES: incremental snapshots queued');
  return added;
}

export interface IncrementalDeps extends SourceParts {
  sink: EventSink<Position | null>;
  offsets: OffsetContext;
  memory: SnapshotStateMemory;
  writer: SnapshotStateWriter;
  /** Produces the table's schema document (read through `db`) and resolves with its id once acknowledged. */
  publishSchema: (db: pg.Client, table: TableDescription) => Promise<string>;
  /** Fails the session: PostgreSQL or the broker failed while snapshotting (a new session resumes). */
  fail: (err: Error, origin: FailureComponent) => void;
}

/** A chunk read and handed to the window, awaiting its high watermark and acknowledgement. */
interface InflightChunk {
  id: string;
  outcome: Promise<ChunkOutcome>;
  acked: Promise<void>;
  /** Rows the chunk read (sent, superseded or held). */
  read: number;
  /** Key of its last row read; null when it read none. */
  lastKey: string[] | null;
  /** Keys set aside: an unfinished transaction held their rows. */
  held: string[][];
  /** The range scan reached its end with this chunk. */
  scanEnd: boolean;
  /** A chunk of deferred keys: the keys it read again. */
  keys: string[][] | null;
}

/** The chunk must be read again (the window could not be trusted): the run restarts from the stored state. */
class ChunkRetry extends Error {}
/** The table cannot be snapshotted: the snapshot fails with this reason, the next one starts. */
class SnapshotFailed extends Error {}

/** Incremental snapshots of one session; see the module comment. */
export class IncrementalSnapshotChangeEventSource {
  private readonly windows = new ChunkWindows();
  private readonly acks = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
  private readonly nonce = randomBytes(8).toString('hex');
  private seq = 0;
  private closed = false;
  private rejectAborted!: (err: Error) => void;
  private readonly aborted = new Promise<never>((_, reject) => (this.rejectAborted = reject));
  private signals: Promise<void> = Promise.resolve();
  private wakeRunner: (() => void) | null = null;
  private running: Promise<void> | null = null;
  /** Request ids to stop, with who waits for the runner to write `stopped`. */
  private readonly stopping = new Map<string, { reason: string; done: () => void; fail: (err: Error) => void }>();
  private current: TableSnapshotState | null = null;
  private readonly plans = new Map<string, { plan: RelationPlan; columns: number }>();
  private lastProgressLog = 0;

  constructor(private readonly deps: IncrementalDeps) {
    this.aborted.catch(() => undefined);
    deps.dispatcher.observe((events) => this.windows.observe(events));
  }

  /** Starts running the queued and unfinished snapshots (call once the stream runs). */
  start(): void {
    this.running ??= this.run();
  }

  /**
   * A logical decoding message met in the stream: a watermark of this process's chunks, or a
   * signal for this slot. Anything else is ignored.
   */
  handleMessage(message: LogicalMessage, lsn: bigint): void {
    if (message.prefix === WATERMARK_PREFIX) this.onWatermark(message.content.toString('utf8'));
    else if (message.prefix === SIGNAL_PREFIX) this.onSignal(message.content.toString('utf8'), lsn);
  }

  /** Stops reading chunks, forgets the open windows; the stored state stays for the next session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deps.dispatcher.observe(null);
    this.rejectAborted(new Error('incremental snapshot source closed'));
    this.windows.abandon('session closed');
    for (const a of this.acks.values()) a.reject(new Error('session closed'));
    this.acks.clear();
    this.wakeRunner?.();
    // A stop not written yet must not be confirmed past: the signal is read again by the next session.
    for (const s of this.stopping.values()) s.fail(new Error('session closed before the stop was stored'));
    this.stopping.clear();
    await Promise.race([this.running ?? Promise.resolve(), new Promise((r) => setTimeout(r, 5_000))]);
    for (const table of this.deps.memory.tables()) this.deps.metrics.incrementalRunning.set({ table: table.table }, 0);
  }

  // ---- streaming side -------------------------------------------------------------------------

  private onWatermark(text: string): void {
    let w;
    try {
      w = parseWatermark(text);
    } catch (err) {
      this.deps.logger.debug({ err }, 'watermark message ignored');
      return;
    }
    if (w.slot !== this.deps.config.cdc.slotName) return;
    const outcome = this.windows.watermark(w);
    if (!outcome) return;
    const ack = this.acks.get(w.chunk);
    this.acks.delete(w.chunk);
    if (outcome.kind !== 'emitted') return;
    if (outcome.events.length === 0) {
      ack?.resolve();
      return;
    }
    this.deps.dispatcher.dispatchPrepared(outcome.events, outsidePosition(outcome.events.length, () => ack?.resolve()));
  }

  private onSignal(text: string, lsn: bigint): void {
    const { config, logger, metrics, memory } = this.deps;
    let signal: CdcSignal;
    try {
      signal = parseSignalMessage(text, config.postgres.cdc.password);
    } catch (err) {
      metrics.errors.inc({ kind: 'signal' });
      logger.warn({ err }, 'signal ignored: it does not satisfy the signal contract or was not written with the CDC role\'s credentials');
      return;
    }
    if (signal.slot !== config.cdc.slotName) return;
    if (signal.type === 'execute-snapshot' && memory.knowsRequest(signal.id)) {
      logger.debug({ id: signal.id }, 'signal seen before (replayed after a restart): ignored');
      return;
    }
    // The slot may not confirm past the signal until its outcome is stored (a crash would lose it).
    const release = this.deps.offsets.hold(lsn);
    this.signals = this.signals
      .then(() => (signal.type === 'execute-snapshot' ? this.acceptSnapshot(signal) : this.stopSnapshots(signal)))
      .then(release, (err: Error) => {
        if (!this.closed) this.deps.fail(err, classifyFailure(err, 'service').component);
      });
  }

  private async acceptSnapshot(signal: ExecuteSnapshotSignal): Promise<void> {
    const { config, logger, memory, writer } = this.deps;
    const refuse = async (reason: string) => {
      logger.warn({ id: signal.id, table: signal.table, requestedBy: signal.requestedBy, reason }, 'incremental snapshot refused');
      await writer.put({ format: 1, kind: 'refusal', slot: config.cdc.slotName, id: signal.id, table: signal.table, reason, at: new Date().toISOString() });
    };
    const current = memory.table(signal.table);
    if (current && ACTIVE_STATUSES.includes(current.status)) {
      await refuse(`an incremental snapshot of ${signal.table} is already ${current.status} (request ${current.id}: ${current.chunks} chunks, ${current.rows} rows); ` +
        `stop it first: npm run lakehouse -- snapshot --stop --table ${signal.table}`);
      return;
    }
    const problem = await this.withConnection((db) => snapshotRequestProblem(db, config, signal.table, signal.where));
    if (problem) {
      await refuse(problem);
      return;
    }
    const state = newSnapshotState({
      slot: config.cdc.slotName, table: signal.table, id: signal.id, trigger: 'signal', where: signal.where,
      chunkRows: signal.chunkRows ?? config.cdc.incrementalChunkRows, requestedAt: signal.requestedAt, requestedBy: signal.requestedBy,
    });
    await writer.put(state);
    logger.info({ id: signal.id, table: signal.table, where: signal.where, chunkRows: state.chunkRows, requestedBy: signal.requestedBy }, 'incremental snapshot queued');
    this.wakeRunner?.();
  }

  private async stopSnapshots(signal: StopSnapshotSignal): Promise<void> {
    const { logger, memory, writer } = this.deps;
    const now = new Date().toISOString();
    const reason = `stopped by ${signal.requestedBy} at ${signal.requestedAt}`;
    // Only what was requested before the stop: a replayed stop signal leaves later requests alone.
    const targets = memory.active().filter((s) => (signal.table === null || s.table === signal.table) && s.requestedAt <= signal.requestedAt);
    for (const s of targets) {
      if (this.current?.id === s.id) {
        await new Promise<void>((done, fail) => {
          this.stopping.set(s.id, { reason, done, fail });
          this.wakeRunner?.();
        });
      } else {
        await writer.put({ ...s, status: 'stopped', reason, updatedAt: now, finishedAt: now });
      }
      logger.info({ table: s.table, id: s.id, chunks: s.chunks, rows: s.rows }, 'incremental snapshot stopped');
    }
    if (targets.length === 0) logger.info({ table: signal.table }, 'stop signal: no incremental snapshot to stop');
  }

  // ---- reading side ---------------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.closed) {
      const next = this.deps.memory.active()[0];
      if (!next) {
        await new Promise<void>((resolve) => (this.wakeRunner = resolve));
        this.wakeRunner = null;
        continue;
      }
      try {
        await this.runSnapshot(next);
      } catch (err) {
        if (this.closed) return;
        this.windows.abandon('chunk run ended');
        for (const a of this.acks.values()) a.reject(new Error('chunk run ended'));
        this.acks.clear();
        if (err instanceof ChunkRetry) {
          this.deps.logger.warn({ table: next.table, reason: err.message }, 'incremental snapshot chunk read again from the last finished chunk');
          await this.pause(1_000);
          continue;
        }
        const verdict = classifyFailure(err, 'postgres');
        if (err instanceof SnapshotFailed || (!verdict.retriable && verdict.component === 'postgres' && /^[0-9A-Z]{5}:/.test(verdict.reason))) {
          await this.finish(this.deps.memory.table(next.table) ?? next, 'failed', err instanceof SnapshotFailed ? err.message : verdict.reason).catch((e: Error) => this.deps.fail(e, 'kafka'));
          continue;
        }
        this.deps.fail(err as Error, verdict.component);
        return;
      } finally {
        this.current = null;
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return this.guard(new Promise<void>((r) => setTimeout(r, ms)));
  }

  /** `p`, or a rejection once the source is closed. */
  private guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.aborted]);
  }

  private async withConnection<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
    const db = new pg.Client(cdcConnection(this.deps.config));
    db.on('error', (err) => this.deps.logger.debug({ err }, 'incremental snapshot connection error'));
    await db.connect();
    try {
      return await fn(db);
    } finally {
      await db.end().catch(() => undefined);
    }
  }

  private async finish(s: TableSnapshotState, status: 'done' | 'failed' | 'stopped', reason: string | null): Promise<void> {
    const now = new Date().toISOString();
    const record: TableSnapshotState = { ...s, status, reason, updatedAt: now, finishedAt: now };
    await this.deps.writer.put(record);
    const { metrics, logger } = this.deps;
    metrics.incrementalRunning.set({ table: s.table }, 0);
    if (status === 'done') metrics.incrementalPercent.set({ table: s.table }, 100);
    const fields = { table: s.table, id: s.id, chunks: s.chunks, rows: s.rows, supersededRows: s.supersededRows, reason: reason ?? undefined };
    if (status === 'failed') logger.error(fields, 'incremental snapshot failed');
    else if (status === 'done') logger.info(fields, 'incremental snapshot done');
  }

  /** Writes progress, unless a stop was requested: then `stopped`, and the run ends. @returns false when stopped. */
  private async persist(s: TableSnapshotState): Promise<boolean> {
    const stop = this.stopping.get(s.id);
    if (stop) {
      await this.finish(s, 'stopped', stop.reason);
      this.stopping.delete(s.id);
      stop.done();
      return false;
    }
    await this.guard(this.deps.writer.put(s));
    return true;
  }

  private async runSnapshot(start: TableSnapshotState): Promise<void> {
    const { config, logger, metrics } = this.deps;
    this.current = start;
    await this.withConnection(async (db) => {
      const table = await describePublishedTable(db, config.postgres.publication, start.table);
      if (!table) throw new SnapshotFailed(`table ${start.table} does not exist`);
      if (table.primaryKey.length === 0) throw new SnapshotFailed(keylessReason(start.table));
      let s = start;
      const samePk = s.primaryKey.length === table.primaryKey.length && s.primaryKey.every((k, i) => table.primaryKey[i] === k);
      if (s.status === 'queued' || s.maxKey === null || !samePk) {
        if (s.status === 'running' && !samePk) logger.warn({ table: s.table, was: s.primaryKey, now: table.primaryKey }, 'primary key changed: the incremental snapshot scans the table again');
        const bounds = await this.scanBounds(db, table, s.where);
        const now = new Date().toISOString();
        s = { ...s, status: 'running', startedAt: s.startedAt ?? now, updatedAt: now, primaryKey: table.primaryKey, maxKey: bounds.maxKey, lastKey: null, scanDone: bounds.maxKey === null, deferredKeys: [], estimatedRows: bounds.estimate };
        if (!(await this.persist(s))) return;
        logger.info({ table: s.table, id: s.id, where: s.where, chunkRows: s.chunkRows, maxKey: s.maxKey, estimatedRows: s.estimatedRows, trigger: s.trigger }, 'incremental snapshot started');
      } else {
        logger.info({ table: s.table, id: s.id, chunks: s.chunks, rows: s.rows, lastKey: s.lastKey, deferredKeys: s.deferredKeys.length }, 'incremental snapshot resumed after the last finished chunk');
      }
      this.current = s;
      metrics.incrementalRunning.set({ table: s.table }, 1);
      const result = await this.scan(db, table, s);
      if (result) await this.finish(result, 'done', null);
    });
  }

  /** The greatest key matching the predicate (null: nothing to read) and the planner's estimate. */
  private async scanBounds(db: pg.Client, table: TableDescription, where: string | null): Promise<{ maxKey: string[] | null; estimate: number | null }> {
    await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const max = await db.query<string[]>({ text: maxKeyQuery(table, where), rowMode: 'array', types: RAW_TEXT_TYPES });
      const explain = await db.query<{ 'QUERY PLAN': unknown }>(estimateQuery(table, where));
      return { maxKey: max.rows[0] ? max.rows[0].map(String) : null, estimate: planRows(explain.rows[0]?.['QUERY PLAN']) };
    } finally {
      await db.query('COMMIT').catch(() => undefined);
    }
  }

  /**
   * Reads the chunks after `s.lastKey` up to `s.maxKey`, then the deferred keys, persisting after
   * each acknowledged chunk.
   * @returns the final state, or null when stopped.
   */
  private async scan(db: pg.Client, table: TableDescription, initial: TableSnapshotState): Promise<TableSnapshotState | null> {
    let s = initial;
    const inflight: InflightChunk[] = [];
    let after = s.lastKey;
    let scanDone = s.scanDone;
    let idleRounds = 0;
    let lastWaitLog = 0;

    const settle = async (c: InflightChunk): Promise<boolean> => {
      const outcome = await this.guard(c.outcome);
      if (outcome.kind === 'retry') throw new ChunkRetry(outcome.reason);
      await this.guard(c.acked);
      let deferred = s.deferredKeys;
      if (c.keys) {
        const reread = new Set(c.keys.map((k) => JSON.stringify(k)));
        deferred = deferred.filter((k) => !reread.has(JSON.stringify(k)));
      }
      deferred = deferred.concat(c.held);
      s = {
        ...s,
        lastKey: c.keys ? s.lastKey : c.lastKey ?? s.lastKey,
        scanDone: s.scanDone || c.scanEnd,
        deferredKeys: deferred,
        chunks: s.chunks + 1,
        rows: s.rows + outcome.events.length,
        supersededRows: s.supersededRows + outcome.superseded,
        updatedAt: new Date().toISOString(),
      };
      this.current = s;
      const { metrics } = this.deps;
      metrics.incrementalChunks.inc({ table: s.table });
      metrics.incrementalRows.inc({ table: s.table }, outcome.events.length);
      if (outcome.superseded > 0) metrics.incrementalSuperseded.inc({ table: s.table }, outcome.superseded);
      metrics.incrementalPercent.set({ table: s.table }, snapshotPercent(s) ?? 0);
      this.logProgress(s);
      return this.persist(s);
    };

    for (;;) {
      if (this.closed) throw new Error('incremental snapshot source closed');
      if (this.stopping.has(s.id)) {
        while (inflight.length > 0) inflight.shift();
        this.windows.abandon('snapshot stopped');
        return (await this.persist(s)) ? s : null;
      }
      const deferredWaiting = s.deferredKeys.length;
      const limit = s.chunkRows;
      if (!scanDone && deferredWaiting < DEFERRED_CHUNKS_LIMIT * limit) {
        const c = await this.readChunk(db, s, (d) => chunkQuery(d, { after, max: s.maxKey!, where: s.where, limit }), null, limit);
        inflight.push(c);
        if (c.lastKey) after = c.lastKey;
        if (c.scanEnd) scanDone = true;
        while (inflight.length >= PIPELINE_DEPTH) if (!(await settle(inflight.shift()!))) return null;
        continue;
      }
      if (inflight.length > 0) {
        if (!(await settle(inflight.shift()!))) return null;
        continue;
      }
      if (deferredWaiting === 0) return s;
      // Keys set aside: read again once the transactions holding them ended.
      const keys = s.deferredKeys.slice(0, limit);
      const c = await this.readChunk(db, s, (d) => keysQuery(d, keys, s.where), keys, limit);
      if (!(await settle(c))) return null;
      if (c.held.length === keys.length) {
        idleRounds++;
        if (Date.now() - lastWaitLog >= 30_000) {
          lastWaitLog = Date.now();
          this.deps.logger.info({ table: s.table, keys: s.deferredKeys.length }, 'incremental snapshot waits for transactions that hold rows of the table');
        }
        await this.pause(Math.min(5_000, 100 * 2 ** Math.min(idleRounds, 6)));
      } else {
        idleRounds = 0;
      }
    }
  }

  private logProgress(s: TableSnapshotState): void {
    const now = Date.now();
    if (now - this.lastProgressLog < PROGRESS_LOG_MS) return;
    this.lastProgressLog = now;
    const seconds = s.startedAt ? (now - Date.parse(s.startedAt)) / 1000 : 0;
    this.deps.logger.info(
      { table: s.table, chunks: s.chunks, rows: s.rows, estimatedRows: s.estimatedRows, percent: snapshotPercent(s), supersededRows: s.supersededRows, deferredKeys: s.deferredKeys.length, rowsPerSecond: seconds > 0 ? Math.round(s.rows / seconds) : null },
      'incremental snapshot progress',
    );
  }

  /**
   * Reads one chunk between its watermarks (see the module comment) and hands its rows to the window.
   * @param query the statement reading the chunk, built from the table as described in the chunk's transaction.
   * @param keys the deferred keys this chunk reads again, or null for a range chunk.
   */
  private async readChunk(
    db: pg.Client,
    s: TableSnapshotState,
    query: (table: TableDescription) => { text: string; values: string[] },
    keys: string[][] | null,
    limit: number,
  ): Promise<InflightChunk> {
    const { config } = this.deps;
    const id = `${this.nonce}-${++this.seq}`;
    const [schema, name] = s.table.split('.') as [string, string];
    const topic = `${config.kafka.topicPrefix}.${schema}.${name}`;
    const outcome = this.windows.expect(id, topic);
    let resolveAck!: () => void;
    let rejectAck!: (err: Error) => void;
    const acked = new Promise<void>((resolve, reject) => {
      resolveAck = resolve;
      rejectAck = reject;
    });
    acked.catch(() => undefined);
    this.acks.set(id, { resolve: resolveAck, reject: rejectAck });
    try {
      return await this.readWindow(db, s, query, keys, limit, id, outcome, acked);
    } catch (err) {
      this.forget(id);
      throw err;
    }
  }

  private async readWindow(
    db: pg.Client,
    s: TableSnapshotState,
    query: (table: TableDescription) => { text: string; values: string[] },
    keys: string[][] | null,
    limit: number,
    id: string,
    outcome: Promise<ChunkOutcome>,
    acked: Promise<void>,
  ): Promise<InflightChunk> {
    const { config, mapper } = this.deps;
    const low = await this.emitWatermark(db, 'open', s.table, id);
    await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let rows: string[][];
    let table: TableDescription;
    let plan: RelationPlan;
    let stillRunning = new Set<bigint>();
    let snapshotText: string;
    try {
      snapshotText = (await db.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s;
      const current = await describePublishedTable(db, config.postgres.publication, s.table);
      if (!current) throw new SnapshotFailed(`table ${s.table} was dropped during the snapshot`);
      if (current.primaryKey.join(',') !== s.primaryKey.join(',')) throw new ChunkRetry('the primary key changed');
      table = current;
      plan = await this.planFor(db, table);
      const q = query(table);
      rows = (await db.query<string[]>({ text: q.text, values: q.values, rowMode: 'array', types: RAW_TEXT_TYPES })).rows;
      const snapshot = parsePgSnapshot(snapshotText);
      const n = table.columns.length;
      const ask = xidsToAsk(rows, (r) => Number(r[n]), snapshot);
      if (ask.length > 0) {
        const res = await db.query<{ x: string; status: string | null }>('SELECT x::text AS x, pg_xact_status(x) AS status FROM unnest($1::xid8[]) AS x', [ask.map(String)]);
        stillRunning = new Set(res.rows.filter((r) => r.status === 'in progress').map((r) => BigInt(r.x)));
      }
      await db.query('COMMIT');
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    const n = table.columns.length;
    const keyIndexes = table.primaryKey.map((k) => table.columns.findIndex((c) => c.name === k));
    const keyOf = (r: string[]) => keyIndexes.map((i) => r[i]!);
    const { rows: send, held } = classifyRows(rows, (r) => Number(r[n]), parsePgSnapshot(snapshotText), stillRunning);
    const tsMs = Date.now();
    this.windows.fill(id, send.map((r) => mapper.snapshotEvent(plan, r.slice(0, n), { lsn: low, txId: null, tsMs, snapshot: 'incremental' })));
    await this.emitWatermark(db, 'close', s.table, id);
    const last = rows.at(-1);
    return { id, outcome, acked, read: rows.length, lastKey: last ? keyOf(last) : null, held: held.map(keyOf), scanEnd: keys === null && rows.length < limit, keys };
  }

  private forget(id: string): void {
    this.acks.delete(id);
    this.windows.watermark({ kind: 'close', chunk: id });
  }

  /** The plan of the table as described now; a new table version's schema document is produced first. */
  private async planFor(db: pg.Client, table: TableDescription): Promise<RelationPlan> {
    const { mapper, types } = this.deps;
    const signature = JSON.stringify([table.oid, table.columns, table.primaryKey]);
    const known = this.plans.get(signature);
    if (known) return known.plan;
    await types.ensure(db, table.columns.map((c) => c.typeOid));
    const schemaId = await this.deps.publishSchema(db, table);
    const plan = mapper.plan(table.schema, table.table, table.columns, table.primaryKey, types.lookup, schemaId);
    this.plans.set(signature, { plan, columns: table.columns.length });
    return plan;
  }

  /**
   * Writes a watermark into the WAL and returns its LSN. The statement also takes a transaction
   * id, so its commit flushes the WAL: a lone non-transactional message would otherwise wait for
   * the next flush before the walsender sends it (PostgreSQL 17's `flush` argument does this).
   */
  private async emitWatermark(db: pg.Client, kind: 'open' | 'close', table: string, chunk: string): Promise<bigint> {
    const content = encodeWatermark({ format: 1, kind, slot: this.deps.config.cdc.slotName, table, chunk });
    const res = await db.query<{ lsn: string }>('SELECT pg_logical_emit_message(false, $1, $2)::text AS lsn, pg_current_xact_id()', [WATERMARK_PREFIX, content]);
    return parseLsn(res.rows[0]!.lsn);
  }
}

/** `lakehouse-cli@<host>`: who a signal of this process says it comes from. */
export function requester(tool: string): string {
  return `${tool}@${hostname()}`.slice(0, 200);
}
