/**
 * The SQL of incremental snapshots and the pure decisions around it (services/cdc/README.md,
 * "Incremental snapshots"; docs/contracts/incremental-snapshots.md).
 *
 * - Chunks are read by primary key, like Debezium's ChunkQueryBuilder: `WHERE (k1, k2) > (last)
 *   AND (k1, k2) <= (max) [AND (<where>)] ORDER BY k1, k2 LIMIT n`, the row comparison walking the
 *   primary-key index. The SQL text holds quoted identifiers and `$n` placeholders only; key values
 *   are always bound. The one exception is the operator's `--where` predicate, which is SQL by
 *   nature: {@link predicateProblem} rejects what could end or extend the statement (`;`,
 *   comments, unbalanced parentheses or quotes), the service runs it as the CDC role in a READ
 *   ONLY transaction, and `EXPLAIN` checks it before the snapshot is accepted.
 * - Each chunk also reads `xmax`, so a row that an unfinished transaction holds (it updated,
 *   deleted or locked it) is recognised ({@link classifyRows}): its chunk row is not sent, its key
 *   is read again once the transaction ended. Otherwise that transaction's change, streamed after
 *   the chunk, would carry an LSN lower than the chunk's and a consumer ordering by LSN (silver)
 *   would keep the older chunk row.
 *
 * Pure: no I/O.
 */
import type { TableDescription } from './postgres-catalog.ts';

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** `ONLY "s"."t"` for a plain table, `"s"."t"` for a partitioned table (its partitions are read through the root). */
export function tableRef(table: Pick<TableDescription, 'schema' | 'table' | 'relkind'>): string {
  return `${table.relkind === 'p' ? '' : 'ONLY '}${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** `(k1, k2)` of the primary key. */
function keyTuple(primaryKey: readonly string[]): string {
  return `(${primaryKey.map(quoteIdent).join(', ')})`;
}

/** `($from, $from+1, ...)` for a key of `n` columns. */
function placeholders(n: number, from: number): string {
  return `(${Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ')})`;
}

/**
 * Why a `--where` predicate is refused before it reaches PostgreSQL, or null when it is one
 * expression: not empty, at most 4000 characters, no `;`, no comment, balanced parentheses outside
 * string literals, quoted identifiers and dollar-quoted strings, every quote closed. PostgreSQL
 * (EXPLAIN, as the CDC role, READ ONLY) then checks that it is a valid boolean expression on the table.
 */
export function predicateProblem(predicate: string): string | null {
  if (predicate.trim() === '') return 'the predicate is empty';
  if (predicate.length > 4000) return 'the predicate is longer than 4000 characters';
  let depth = 0;
  let i = 0;
  const n = predicate.length;
  while (i < n) {
    const c = predicate[i]!;
    const next = predicate[i + 1];
    if (c === "'" || c === '"') {
      // '...' and "..." with doubled quotes inside (E'...' strings: a backslash escapes one character).
      const escapes = c === "'" && i > 0 && /[eE]/.test(predicate[i - 1]!) && (i < 2 || !/[A-Za-z0-9_]/.test(predicate[i - 2]!));
      i++;
      for (;;) {
        if (i >= n) return `unterminated ${c === "'" ? 'string literal' : 'quoted identifier'}`;
        if (escapes && predicate[i] === '\\') {
          i += 2;
          continue;
        }
        if (predicate[i] === c) {
          if (predicate[i + 1] === c) {
            i += 2;
            continue;
          }
          i++;
          break;
        }
        i++;
      }
      continue;
    }
    if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(predicate.slice(i));
      if (tag && (i === 0 || !/[A-Za-z0-9_]/.test(predicate[i - 1]!))) {
        const end = predicate.indexOf(tag[0], i + tag[0].length);
        if (end < 0) return 'unterminated dollar-quoted string';
        i = end + tag[0].length;
        continue;
      }
    }
    if (c === ';') return 'a ";" would end the statement: give one expression';
    if ((c === '-' && next === '-') || (c === '/' && next === '*')) return 'comments are not allowed in the predicate';
    if (c === '(') depth++;
    if (c === ')' && --depth < 0) return 'unbalanced parentheses: a ")" closes more than was opened';
    i++;
  }
  if (depth !== 0) return 'unbalanced parentheses: a "(" is not closed';
  return null;
}

/** ` AND (<predicate>)`, or '' without one. */
function andPredicate(where: string | null): string {
  return where === null ? '' : ` AND (${where})`;
}

/**
 * The greatest primary key (matching `where`): where the scan ends.
 * @returns SQL with no parameter; the row holds the key columns' text.
 */
export function maxKeyQuery(table: Pick<TableDescription, 'schema' | 'table' | 'relkind' | 'primaryKey'>, where: string | null): string {
  const pk = table.primaryKey.map(quoteIdent);
  return `SELECT ${pk.join(', ')} FROM ${tableRef(table)} WHERE true${andPredicate(where)} ORDER BY ${pk.map((k) => `${k} DESC`).join(', ')} LIMIT 1`;
}

/** The planner's row estimate of the table (and `where`): `EXPLAIN (FORMAT JSON)`, no parameter. */
export function estimateQuery(table: Pick<TableDescription, 'schema' | 'table' | 'relkind'>, where: string | null): string {
  return `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${tableRef(table)} WHERE true${andPredicate(where)}`;
}

/** Reads `Plan Rows` from `EXPLAIN (FORMAT JSON)` output (the pg client parses the json column). */
export function planRows(explain: unknown): number | null {
  const plan = Array.isArray(explain) ? (explain[0] as { Plan?: { 'Plan Rows'?: unknown } } | undefined)?.Plan : undefined;
  const rows = plan?.['Plan Rows'];
  return typeof rows === 'number' && Number.isFinite(rows) ? Math.max(0, Math.round(rows)) : null;
}

/**
 * One chunk: the published columns, then `xmax`, of the rows after `after` (exclusive; from the
 * first row when null) up to `max` (inclusive), matching `where`, in key order, at most `limit`.
 * @returns the statement and its bound values (the key values, as text: PostgreSQL casts them to
 *   the key columns' types).
 */
export function chunkQuery(
  table: Pick<TableDescription, 'schema' | 'table' | 'relkind' | 'primaryKey' | 'columns'>,
  range: { after: readonly string[] | null; max: readonly string[]; where: string | null; limit: number },
): { text: string; values: string[] } {
  const k = table.primaryKey.length;
  const key = keyTuple(table.primaryKey);
  const conditions: string[] = [];
  const values: string[] = [];
  if (range.after) {
    conditions.push(`${key} > ${placeholders(k, 1)}`);
    values.push(...range.after);
  }
  conditions.push(`${key} <= ${placeholders(k, values.length + 1)}`);
  values.push(...range.max);
  const columns = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const text = `SELECT ${columns}, xmax::text FROM ${tableRef(table)} WHERE ${conditions.join(' AND ')}${andPredicate(range.where)} ORDER BY ${table.primaryKey.map(quoteIdent).join(', ')} LIMIT ${Math.floor(range.limit)}`;
  return { text, values };
}

/**
 * The rows of the given keys (matching `where`), as {@link chunkQuery} reads them: the deferred
 * keys read again.
 */
export function keysQuery(
  table: Pick<TableDescription, 'schema' | 'table' | 'relkind' | 'primaryKey' | 'columns'>,
  keys: readonly (readonly string[])[],
  where: string | null,
): { text: string; values: string[] } {
  const k = table.primaryKey.length;
  const tuples = keys.map((_, i) => placeholders(k, i * k + 1));
  const columns = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const text = `SELECT ${columns}, xmax::text FROM ${tableRef(table)} WHERE ${keyTuple(table.primaryKey)} IN (${tuples.join(', ')})${andPredicate(where)} ORDER BY ${table.primaryKey.map(quoteIdent).join(', ')}`;
  return { text, values: keys.flat() };
}

/** A snapshot as `pg_current_snapshot()` prints it: `xmin:xmax:xip,...` (64-bit transaction ids). */
export interface PgSnapshot {
  xmin: bigint;
  xmax: bigint;
  xip: Set<bigint>;
}

/** @throws Error on text that is not `xmin:xmax:xip-list`. */
export function parsePgSnapshot(text: string): PgSnapshot {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
  if (!m) throw new Error(`not a pg_snapshot: ${JSON.stringify(text)}`);
  return { xmin: BigInt(m[1]!), xmax: BigInt(m[2]!), xip: new Set(m[3] ? m[3].split(',').map(BigInt) : []) };
}

/**
 * The 64-bit id of the 32-bit transaction id `xid` (a tuple's xmax), taking the one nearest to
 * `reference` (the snapshot's xmax): ids within 2^31 of each other compare as PostgreSQL's
 * TransactionIdPrecedes does.
 */
export function fullXid(xid: number, reference: bigint): bigint {
  const ref32 = Number(reference & 0xffffffffn);
  const delta = (ref32 - xid) | 0; // int32: positive when xid precedes the reference
  return reference - BigInt(delta);
}

/** What a chunk row's xmax says. */
export type RowHold = 'free' | 'held' | 'ask';

/**
 * Whether an unfinished transaction may hold a row read under `snapshot`, from the row's xmax:
 * - `free`: no xmax, or a transaction the snapshot sees as finished before the oldest running one;
 * - `held`: a transaction running when the snapshot was taken (in its xip list, or not started
 *   yet for it): it updated, deleted or locked the row and may commit after the chunk;
 * - `ask`: between xmin and xmax and not in the xip list: finished for the snapshot, unless it is
 *   a subtransaction (their ids are not in the list); the caller asks pg_xact_status.
 */
export function rowHold(xmax: number, snapshot: PgSnapshot): RowHold {
  if (xmax === 0) return 'free';
  const full = fullXid(xmax, snapshot.xmax);
  if (full >= snapshot.xmax || snapshot.xip.has(full)) return 'held';
  if (full < snapshot.xmin) return 'free';
  return 'ask';
}

/** A chunk's rows split into those to send and those whose key is read again later. */
export interface ClassifiedRows<R> {
  rows: R[];
  held: R[];
}

/**
 * Splits rows by {@link rowHold}; `stillRunning` holds the 64-bit ids among the `ask` ones that
 * pg_xact_status reported 'in progress'.
 */
export function classifyRows<R>(rows: readonly R[], xmaxOf: (row: R) => number, snapshot: PgSnapshot, stillRunning: ReadonlySet<bigint> = new Set()): ClassifiedRows<R> {
  const out: ClassifiedRows<R> = { rows: [], held: [] };
  for (const row of rows) {
    const xmax = xmaxOf(row);
    const hold = rowHold(xmax, snapshot);
    if (hold === 'held' || (hold === 'ask' && stillRunning.has(fullXid(xmax, snapshot.xmax)))) out.held.push(row);
    else out.rows.push(row);
  }
  return out;
}

/** The 64-bit ids the caller must ask pg_xact_status about (the `ask` rows' xmax), distinct. */
export function xidsToAsk<R>(rows: readonly R[], xmaxOf: (row: R) => number, snapshot: PgSnapshot): bigint[] {
  const out = new Set<bigint>();
  for (const row of rows) {
    const xmax = xmaxOf(row);
    if (rowHold(xmax, snapshot) === 'ask') out.add(fullXid(xmax, snapshot.xmax));
  }
  return [...out];
}
