/**
 * Maps decoded pgoutput messages and snapshot rows to Debezium-compatible change events
 * (docs/contracts/change-events.md): key and value as JSON text, the topic
 * `<prefix>.<schema>.<table>`, and a tombstone after each delete.
 *
 * Pure: no I/O, no clock except the injected `now`. The replication adapter feeds it messages in
 * stream order; it keeps the per-relation column plans (refreshed by every Relation message, so an
 * `ALTER TABLE ... ADD COLUMN` shows up in the next event) and the current transaction (txId and
 * commit time shared by all its events).
 *
 * Rules beyond plain Debezium rendering (documented in services/cdc/README.md):
 * - Unchanged TOAST values ('u' in the new tuple) take the before-image value when the server sent
 *   one (REPLICA IDENTITY FULL), otherwise Debezium's `__debezium_unavailable_value` placeholder.
 * - A primary-key change becomes delete + tombstone (old key) and create (new key), as Debezium does.
 * - Tables without a primary key: key `null`, every event on partition 0 (order kept per table),
 *   no tombstone.
 * - TRUNCATE: one op "t" event (key null) sent to every partition of the table's topic.
 * - Schema link (docs/contracts/table-schemas.md): every message of a table topic, tombstones and
 *   TRUNCATE included, carries the header `lakehouse.schema.id` of the plan's table version; an
 *   event whose `after` holds the unavailable-value placeholder also carries
 *   `lakehouse.unavailable`, the JSON array of those columns' names.
 * - `skippedOperations` drops changes by op before any event is built, as Debezium's
 *   `skipped.operations` does (a skipped "u" drops a primary-key change too, a skipped "d" its tombstone).
 *
 * Envelope and source fields are Debezium 3.6.1's, in its order (Envelope, PostgresSourceInfoStructMaker):
 * `before, after, source, transaction, op, ts_ms, ts_us, ts_ns` and `source` = `version, connector,
 * name, ts_ms, snapshot, db, sequence, ts_us, ts_ns, schema, table, txId, lsn, xmin, origin, origin_lsn`.
 * `sequence` is Debezium's `["<end LSN of the last commit seen>","<LSN of the change>"]` (JSON text
 * in a string; the first element null until a commit was seen, see {@link ChangeMapper.resumeAfter});
 * `ts_us`/`ts_ns` of `source` are the commit time in µs/ns; `origin`/`origin_lsn` come from
 * pgoutput's Origin message (null for local transactions). With `extendedHeaders`, every record
 * (tombstones and TRUNCATE too) carries Debezium's `__debezium.context.*` headers.
 */
import { randomUUID } from 'node:crypto';
import type { BeginMessage, CommitMessage, DeleteMessage, InsertMessage, PgoutputMessage, RelationMessage, Tuple, TupleValue, UpdateMessage } from './pgoutput.ts';
import { UNCHANGED_TOAST } from './pgoutput.ts';
import { SCHEMA_ID_HEADER, UNAVAILABLE_HEADER, type IntervalMode } from '../common/contracts/table-schema.ts';
import { debeziumContextHeaders } from '../common/contracts/change-event.ts';
import { isUnknownType, rendererFor, UNAVAILABLE_VALUE_PLACEHOLDER, UnrenderableValueError, type Renderer, type TypeLookup } from './value-render.ts';

/** A Kafka record the sink must write. Key and value are JSON text; a `null` value is a tombstone. */
export interface OutgoingEvent {
  topic: string;
  key: string | null;
  value: string | null;
  /** Explicit partition (tables without a primary key use 0); otherwise the key decides. */
  partition?: number;
  /** TRUNCATE: write one copy to every partition of the topic. */
  allPartitions?: boolean;
  /** LSN of the change (the snapshot's consistent point for op "r"). */
  lsn: bigint;
  /** Kafka headers; often an object shared by many events: read-only. */
  headers?: Readonly<Record<string, string>>;
  /** Debezium op, for metrics ("tombstone" for tombstones). */
  op: 'c' | 'u' | 'd' | 'r' | 't' | 'tombstone';
}

/** Something the operator should know; the mapper carries on (the value is sent as text, etc.). */
export interface MapperWarning {
  kind: 'unknown_type' | 'unrenderable_value' | 'unavailable_toast' | 'missing_key_column';
  schema: string;
  table: string;
  column?: string;
  type?: string;
  reason: string;
}

export interface MapperOptions {
  /** KAFKA_TOPIC_PREFIX: topic prefix and `source.name`. */
  topicPrefix: string;
  /** Database name (`source.db`). */
  database: string;
  /** Service version (`source.version`). */
  version: string;
  /** Clock for the envelope's `ts_ms` (processing time), ms since epoch. */
  now?: () => number;
  /** CDC_INTERVAL_HANDLING (default iso8601). */
  intervalMode?: IntervalMode;
  onWarning?: (warning: MapperWarning) => void;
  /**
   * Debezium's `extended.headers.enabled` (its default: true): the `__debezium.context.*` headers on
   * every record (logical name = topic prefix, task 0, connector "postgresql", a run id per mapper).
   */
  extendedHeaders?: boolean;
  /** Debezium's `skipped.operations`: changes of these ops produce no event (default none). */
  skippedOperations?: ReadonlySet<SkippableOperation>;
}

/** Ops `skipped.operations` can name: c insert, u update, d delete, t truncate. */
export type SkippableOperation = 'c' | 'u' | 'd' | 't';

/** A column as the catalog or a Relation message describes it. */
export interface ColumnDescription {
  name: string;
  typeOid: number;
  typeMod: number;
}

interface ColumnPlan {
  name: string;
  /** `"name":` */
  jsonName: string;
  render: Renderer;
  typeName: string;
}

/** How rows of one table become events; built from a Relation message or the snapshot's catalog read. */
export interface RelationPlan {
  schema: string;
  table: string;
  topic: string;
  columns: ColumnPlan[];
  /** Indexes into `columns` of the primary-key columns, in key order; empty without a primary key. */
  keyIndexes: number[];
  /** `{"version":...,"ts_ms":` — the constant head of `source`. */
  sourceHead: string;
  /** `,"db":...,"sequence":` — the constant part of `source` after `snapshot`. */
  sourceDb: string;
  /** `,"schema":...,"table":...,"txId":` — the constant part of `source` after `ts_ns`. */
  sourceMiddle: string;
  /** The table version's schema id (header `lakehouse.schema.id`), if the service linked one. */
  schemaId: string | undefined;
  /**
   * Headers every record of the table carries: Debezium's `__debezium.context.*` (extendedHeaders) and
   * `lakehouse.schema.id`; one frozen object shared by the plan's events; undefined for none.
   */
  headers: Readonly<Record<string, string>> | undefined;
}

interface Transaction {
  /** null for an incremental snapshot chunk (its read-only transaction has no id). */
  xid: number | null;
  commitTimeMs: number;
  /** `,"ts_us":<µs>,"ts_ns":<ns>` of the commit time. */
  tsFields: string;
  /** `"[\"<last commit LSN>\",\"` or `"[null,\"`: the head of `source.sequence`. */
  sequenceHead: string;
  /** `,"origin":...,"origin_lsn":...}` — the end of `source`. */
  originTail: string;
}

const NO_ORIGIN = ',"origin":null,"origin_lsn":null}';

/** The snapshot context of an op "r" event. */
export interface SnapshotContext {
  /** The slot's consistent point; an incremental snapshot chunk's low watermark. */
  lsn: bigint;
  /** The snapshot transaction's id; null for an incremental snapshot chunk (its read-only transaction has none). */
  txId: number | null;
  /** Snapshot start time, ms since epoch (`source.ts_ms`); an incremental chunk's read time. */
  tsMs: number;
  /**
   * Debezium's snapshot marker: "first" (first row of the first table), "first_in_data_collection",
   * "last_in_data_collection", "last" (the very last snapshot event), otherwise "true";
   * "incremental" for every row of an incremental snapshot (as Debezium).
   */
  snapshot: 'true' | 'last' | 'first' | 'first_in_data_collection' | 'last_in_data_collection' | 'incremental';
}

/** Where a snapshot row stands, for its marker. */
export interface SnapshotRowPosition {
  /** Its table is the first one snapshotted (even when that table is empty, as Debezium). */
  firstTable: boolean;
  firstInTable: boolean;
  lastInTable: boolean;
}

/**
 * Debezium's `source.snapshot` of a snapshot row (RelationalSnapshotChangeEventSource's
 * SnapshotMarkerResolver, and the buffered last record marked "last"): "last" for the very last
 * snapshot event, "first" for the first row of the first table, else "last_in_data_collection",
 * "first_in_data_collection" (the last wins for a one-row table), else "true".
 */
export function snapshotMarker(p: SnapshotRowPosition & { lastInSnapshot: boolean }): SnapshotContext['snapshot'] {
  if (p.lastInSnapshot) return 'last';
  if (p.firstTable && p.firstInTable) return 'first';
  if (p.lastInTable) return 'last_in_data_collection';
  if (p.firstInTable) return 'first_in_data_collection';
  return 'true';
}

/** Streaming state and event construction; see the module comment. */
export class ChangeMapper {
  private readonly relations = new Map<number, RelationPlan | null>();
  private transaction: Transaction | null = null;
  private readonly now: () => number;
  private readonly warn: (warning: MapperWarning) => void;
  private readonly skipped: ReadonlySet<SkippableOperation>;
  /** End LSN of the last Commit message seen (Debezium's lastCommitLsn), null before the first. */
  private lastCommitLsn: bigint | null = null;
  /** The `__debezium.context.*` headers (one object for every record), or undefined. */
  readonly contextHeaders: Readonly<Record<string, string>> | undefined;

  constructor(private readonly options: MapperOptions) {
    this.now = options.now ?? Date.now;
    this.warn = options.onWarning ?? (() => undefined);
    this.skipped = options.skippedOperations ?? new Set();
    this.contextHeaders = options.extendedHeaders === false ? undefined : debeziumContextHeaders(options.topicPrefix, randomUUID());
  }

  /**
   * Sets the LSN the first streamed transaction's `source.sequence` names as the last commit:
   * the slot's confirmed position when streaming resumes (Debezium restores it from its offsets);
   * null (the default) after a new slot's snapshot, as Debezium.
   */
  resumeAfter(lsn: bigint | null): void {
    this.lastCommitLsn = lsn;
  }

  /**
   * Builds the plan of a table.
   * @param primaryKey primary-key column names in key order (pg_index), [] when there is none.
   * @param lookup type catalog (built-ins plus the types the catalog adapter loaded).
   * @param schemaId the id of the table version's schema document (docs/contracts/table-schemas.md),
   *   already produced to the schema topic; every event of the plan carries it as a header.
   */
  plan(schema: string, table: string, columns: ColumnDescription[], primaryKey: string[], lookup: TypeLookup, schemaId?: string): RelationPlan {
    const renderOptions = { interval: this.options.intervalMode ?? 'iso8601' };
    const plans: ColumnPlan[] = columns.map((c) => {
      const type = lookup(c.typeOid);
      if (isUnknownType(type, lookup)) {
        this.warn({ kind: 'unknown_type', schema, table, column: c.name, type: type?.name ?? `oid ${c.typeOid}`, reason: 'values are sent as text' });
      }
      return { name: c.name, jsonName: `${JSON.stringify(c.name)}:`, render: rendererFor(type, c.typeMod, lookup, renderOptions), typeName: type?.name ?? `oid ${c.typeOid}` };
    });
    const keyIndexes: number[] = [];
    for (const k of primaryKey) {
      const i = plans.findIndex((p) => p.name === k);
      if (i < 0) {
        this.warn({ kind: 'missing_key_column', schema, table, column: k, reason: 'primary-key column not in the published columns; events use no key' });
        keyIndexes.length = 0;
        break;
      }
      keyIndexes.push(i);
    }
    const o = this.options;
    return {
      schema,
      table,
      topic: `${o.topicPrefix}.${schema}.${table}`,
      columns: plans,
      keyIndexes,
      sourceHead: `{"version":${JSON.stringify(o.version)},"connector":"postgresql","name":${JSON.stringify(o.topicPrefix)},"ts_ms":`,
      sourceDb: `,"db":${JSON.stringify(o.database)},"sequence":`,
      sourceMiddle: `,"schema":${JSON.stringify(schema)},"table":${JSON.stringify(table)},"txId":`,
      schemaId,
      headers: this.contextHeaders === undefined && schemaId === undefined
        ? undefined
        : Object.freeze({ ...this.contextHeaders, ...(schemaId === undefined ? {} : { [SCHEMA_ID_HEADER]: schemaId }) }),
    };
  }

  /**
   * Records a Relation message. `primaryKey` null means the table is not captured (it is in the
   * publication but not in CDC_TABLES): its changes produce no events.
   */
  registerRelation(message: RelationMessage, primaryKey: string[] | null, lookup: TypeLookup, schemaId?: string): void {
    this.relations.set(
      message.relationId,
      primaryKey === null ? null : this.plan(message.schema, message.name, message.columns, primaryKey, lookup, schemaId),
    );
  }

  /** True when the relation's Relation message was seen (captured or not). */
  knowsRelation(relationId: number): boolean {
    return this.relations.has(relationId);
  }

  /**
   * Handles one streamed message.
   * @param lsn the XLogData start LSN of the message (the change's LSN).
   * @returns the events to write, in order (possibly none).
   * @throws Error on a protocol violation (change outside a transaction, unknown relation).
   */
  handle(message: PgoutputMessage, lsn: bigint): OutgoingEvent[] {
    switch (message.tag) {
      case 'begin':
        this.begin(message);
        return [];
      case 'commit':
        this.commit(message);
        return [];
      case 'insert':
        return this.insert(message, lsn);
      case 'update':
        return this.update(message, lsn);
      case 'delete':
        return this.delete(message, lsn);
      case 'truncate':
        return this.truncate(message.relationIds, lsn);
      case 'origin':
        if (this.transaction) this.transaction.originTail = `,"origin":${JSON.stringify(message.name)},"origin_lsn":${message.originLsn}}`;
        return [];
      default:
        // relation/type messages are registered by the adapter (it first reads the catalog);
        // logical-decoding messages carry no row.
        return [];
    }
  }

  /** The open transaction's xid, or null between transactions. */
  currentXid(): number | null {
    return this.transaction?.xid ?? null;
  }

  /**
   * An op "r" event for one snapshot row.
   * @param values the row's columns in plan order, as PostgreSQL text output or null.
   */
  snapshotEvent(plan: RelationPlan, values: (string | null)[], ctx: SnapshotContext): OutgoingEvent {
    const after = this.renderRow(plan, values, null);
    const tx: Transaction = { xid: ctx.txId, commitTimeMs: ctx.tsMs, tsFields: `,"ts_us":${ctx.tsMs}000,"ts_ns":${ctx.tsMs}000000`, sequenceHead: '"[null,\\"', originTail: NO_ORIGIN };
    const event: OutgoingEvent = {
      topic: plan.topic,
      key: this.renderKey(plan, values),
      value: this.envelope(plan, 'null', after, 'r', tx, ctx.snapshot, ctx.lsn),
      lsn: ctx.lsn,
      op: 'r',
    };
    if (plan.keyIndexes.length === 0) event.partition = 0;
    if (plan.headers) event.headers = plan.headers;
    return event;
  }

  private begin(message: BeginMessage): void {
    const us = message.commitTimeUs;
    const usText = us.toString(); // once: a BigInt prints slowly (single-row transactions pay this per row)
    this.transaction = {
      xid: message.xid,
      commitTimeMs: Number(us / 1000n),
      tsFields: `,"ts_us":${usText},"ts_ns":${usText}000`,
      sequenceHead: this.lastCommitLsn === null ? '"[null,\\"' : `"[\\"${this.lastCommitLsn}\\",\\"`,
      originTail: NO_ORIGIN,
    };
  }

  private commit(message: CommitMessage): void {
    this.transaction = null;
    this.lastCommitLsn = message.endLsn;
  }

  private tx(): Transaction {
    if (!this.transaction) throw new Error('change outside a transaction (missing Begin message)');
    return this.transaction;
  }

  private relation(relationId: number): RelationPlan | null {
    const plan = this.relations.get(relationId);
    if (plan === undefined) throw new Error(`change for relation ${relationId} before its Relation message`);
    return plan;
  }

  private insert(message: InsertMessage, lsn: bigint): OutgoingEvent[] {
    const plan = this.relation(message.relationId);
    if (!plan || this.skipped.has('c')) return [];
    const tx = this.tx();
    const unavailable: string[] = [];
    return [this.event(plan, 'c', message.newTuple, 'null', this.renderRow(plan, message.newTuple, null, unavailable), tx, lsn, undefined, unavailable)];
  }

  private update(message: UpdateMessage, lsn: bigint): OutgoingEvent[] {
    const plan = this.relation(message.relationId);
    if (!plan || this.skipped.has('u')) return [];
    const tx = this.tx();
    const old = message.oldTuple ?? message.keyTuple;
    const unavailable: string[] = [];
    const after = this.renderRow(plan, message.newTuple, message.oldTuple, unavailable);
    if (old && plan.keyIndexes.length > 0 && this.keyChanged(plan, old, message.newTuple)) {
      const before = this.renderRow(plan, old, null);
      const oldKey = this.renderKey(plan, old);
      const newKey = this.renderKey(plan, message.newTuple, old);
      // Debezium puts the new key on the delete and on its tombstone, the old key on the create.
      const del = this.event(plan, 'd', old, before, 'null', tx, lsn);
      del.headers = { '__debezium.newkey': newKey ?? 'null', ...plan.headers };
      const tombstone = this.tombstone(plan, oldKey, lsn);
      tombstone.headers = del.headers;
      const create = this.event(plan, 'c', message.newTuple, 'null', after, tx, lsn, old, unavailable);
      create.headers = { '__debezium.oldkey': oldKey ?? 'null', ...create.headers };
      return [del, tombstone, create];
    }
    const before = message.oldTuple ? this.renderRow(plan, message.oldTuple, null) : 'null';
    return [this.event(plan, 'u', message.newTuple, before, after, tx, lsn, message.oldTuple ?? undefined, unavailable)];
  }

  private delete(message: DeleteMessage, lsn: bigint): OutgoingEvent[] {
    const plan = this.relation(message.relationId);
    if (!plan || this.skipped.has('d')) return [];
    const tx = this.tx();
    const old = message.oldTuple ?? message.keyTuple!;
    const del = this.event(plan, 'd', old, this.renderRow(plan, old, null), 'null', tx, lsn);
    if (plan.keyIndexes.length === 0) return [del];
    return [del, this.tombstone(plan, del.key, lsn)];
  }

  private truncate(relationIds: number[], lsn: bigint): OutgoingEvent[] {
    const tx = this.tx();
    const out: OutgoingEvent[] = [];
    if (this.skipped.has('t')) return out;
    for (const id of relationIds) {
      const plan = this.relation(id);
      if (!plan) continue;
      const event: OutgoingEvent = {
        topic: plan.topic,
        key: null,
        value: this.envelope(plan, 'null', 'null', 't', tx, 'false', lsn),
        allPartitions: true,
        lsn,
        op: 't',
      };
      if (plan.headers) event.headers = plan.headers;
      out.push(event);
    }
    return out;
  }

  /** @param unavailable columns whose `after` value is the unavailable-value placeholder. */
  private event(plan: RelationPlan, op: 'c' | 'u' | 'd', keySource: Tuple, before: string, after: string, tx: Transaction, lsn: bigint, keyFallback?: Tuple, unavailable?: string[]): OutgoingEvent {
    const event: OutgoingEvent = {
      topic: plan.topic,
      key: this.renderKey(plan, keySource, keyFallback),
      value: this.envelope(plan, before, after, op, tx, 'false', lsn),
      lsn,
      op,
    };
    if (plan.keyIndexes.length === 0) event.partition = 0;
    if (unavailable && unavailable.length > 0) event.headers = { ...plan.headers, [UNAVAILABLE_HEADER]: JSON.stringify(unavailable) };
    else if (plan.headers) event.headers = plan.headers;
    return event;
  }

  private tombstone(plan: RelationPlan, key: string | null, lsn: bigint): OutgoingEvent {
    const event: OutgoingEvent = { topic: plan.topic, key, value: null, lsn, op: 'tombstone' };
    if (plan.headers) event.headers = plan.headers;
    return event;
  }

  /**
   * The envelope, in Debezium's field order. The envelope's `ts_us`/`ts_ns` are the processing time
   * at millisecond precision (the clock is `now`, in ms).
   */
  private envelope(plan: RelationPlan, before: string, after: string, op: string, tx: Transaction, snapshot: string, lsn: bigint): string {
    const now = this.now();
    const lsnText = lsn.toString(); // once: a BigInt prints slowly, and it appears twice
    return `{"before":${before},"after":${after},"source":${plan.sourceHead}${tx.commitTimeMs},"snapshot":"${snapshot}"${plan.sourceDb}${tx.sequenceHead}${lsnText}\\"]"${tx.tsFields}${plan.sourceMiddle}${tx.xid},"lsn":${lsnText},"xmin":null${tx.originTail},"transaction":null,"op":"${op}","ts_ms":${now},"ts_us":${now}000,"ts_ns":${now}000000}`;
  }

  private keyChanged(plan: RelationPlan, old: Tuple, next: Tuple): boolean {
    for (const i of plan.keyIndexes) {
      const n = next[i];
      if (n !== UNCHANGED_TOAST && n !== old[i]) return true;
    }
    return false;
  }

  /** `{"id":42}` from the key columns, or null for a table without a primary key. */
  private renderKey(plan: RelationPlan, tuple: readonly TupleValue[], fallback?: Tuple): string | null {
    if (plan.keyIndexes.length === 0) return null;
    let out = '{';
    for (let k = 0; k < plan.keyIndexes.length; k++) {
      const i = plan.keyIndexes[k]!;
      let v = tuple[i];
      if (v === UNCHANGED_TOAST) v = fallback?.[i] ?? UNCHANGED_TOAST;
      if (k > 0) out += ',';
      out += plan.columns[i]!.jsonName + this.renderValue(plan, i, v);
    }
    return `${out}}`;
  }

  /**
   * `{"col":value,...}` for a tuple. Unchanged TOAST values come from `toastSource` (the old tuple)
   * when it has them, else Debezium's placeholder, and the column's name goes to `unavailable`.
   */
  private renderRow(plan: RelationPlan, tuple: readonly TupleValue[], toastSource: Tuple | null, unavailable?: string[]): string {
    let out = '{';
    const n = plan.columns.length;
    for (let i = 0; i < n; i++) {
      let v = i < tuple.length ? tuple[i]! : null;
      if (v === UNCHANGED_TOAST) {
        const fromOld = toastSource?.[i];
        if (typeof fromOld === 'string' || fromOld === null) v = fromOld ?? null;
        else {
          unavailable?.push(plan.columns[i]!.name);
          this.warn({ kind: 'unavailable_toast', schema: plan.schema, table: plan.table, column: plan.columns[i]!.name, reason: 'unchanged TOAST value without a before-image; placeholder sent' });
        }
      }
      if (i > 0) out += ',';
      out += plan.columns[i]!.jsonName + this.renderValue(plan, i, v);
    }
    return `${out}}`;
  }

  private renderValue(plan: RelationPlan, index: number, value: TupleValue | undefined): string {
    if (value === null || value === undefined) return 'null';
    if (value === UNCHANGED_TOAST) return `"${UNAVAILABLE_VALUE_PLACEHOLDER}"`;
    const column = plan.columns[index]!;
    try {
      return column.render(value);
    } catch (err) {
      if (!(err instanceof UnrenderableValueError)) throw err;
      this.warn({ kind: 'unrenderable_value', schema: plan.schema, table: plan.table, column: column.name, type: column.typeName, reason: `${err.message}; sent as text` });
      return JSON.stringify(value);
    }
  }
}
