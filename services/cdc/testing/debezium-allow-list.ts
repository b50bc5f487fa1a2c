/**
 * The allow-list of differences between this CDC service's events and Debezium 3.6.1's, as rules the
 * compatibility test (debezium-compat.int.test.ts) applies to the differences
 * testing/debezium-diff.ts finds. Each rule's id is a row of the table "Differences from Debezium"
 * in services/cdc/README.md, which gives the reason; the test fails on a difference no rule allows,
 * on a rule no difference needed (unless `optional`), and on a rule the README does not list.
 */
import type { Difference } from './debezium-diff.ts';

export interface AllowRule {
  /** The README row, e.g. "D3". */
  id: string;
  /** One line; the README has the whole reason. */
  reason: string;
  allows(d: Difference): boolean;
  /** Not every run needs the rule (it depends on timing or on a feature not landed yet). */
  optional?: boolean;
}

const keyless = (d: Difference) => d.where.startsWith('keyless ');

export const ALLOW_LIST: AllowRule[] = [
  {
    id: 'D1',
    reason: 'source.version is the CDC service version, not Debezium\'s',
    allows: (d) => d.path === 'source.version',
  },
  {
    id: 'D2',
    reason: 'the envelope\'s ts_ms/ts_us/ts_ns are each connector\'s processing time',
    allows: (d) => d.path === 'ts_ms' || d.path === 'ts_us' || d.path === 'ts_ns',
  },
  {
    id: 'D3',
    reason: '__debezium.context.runId is a new UUID per run of each connector',
    allows: (d) => d.path === 'headers.__debezium.context.runId',
  },
  {
    id: 'D4',
    reason: 'snapshot rows carry each connector\'s own snapshot: consistent point, transaction, time',
    allows: (d) => d.op === 'r' && ['source.lsn', 'source.txId', 'source.ts_ms', 'source.ts_us', 'source.ts_ns', 'source.sequence'].includes(d.path),
  },
  {
    id: 'D5',
    reason: 'keyless tables: every event on partition 0 (Debezium: the producer\'s sticky partitioner)',
    allows: (d) => keyless(d) && d.path === 'partition' && ['c', 'u', 'd', 'r'].includes(d.op),
    optional: true, // the sticky partitioner may pick partition 0 too
  },
  {
    id: 'D6',
    reason: 'keyless tables: no tombstone after a delete (Debezium: a tombstone with a null key)',
    allows: (d) => keyless(d) && d.op === 'tombstone' && d.path === 'record' && d.ours === undefined,
  },
  {
    id: 'D7',
    reason: 'TRUNCATE: one op "t" event in every partition (Debezium with skipped.operations=none: one)',
    allows: (d) => d.op === 't' && (d.path === 'partition' || (d.path === 'record' && d.theirs === undefined)),
  },
  {
    id: 'D8',
    reason: 'multi-dimensional arrays as nested JSON arrays (Debezium: one null per sub-array)',
    allows: (d) => Array.isArray(d.ours) && d.ours.some(Array.isArray) && Array.isArray(d.theirs) && d.theirs.every((x) => x === null),
  },
  {
    id: 'D9',
    reason: 'lakehouse.* headers (schema id, unavailable columns) are ours only',
    allows: (d) => d.path.startsWith('headers.lakehouse.') && d.theirs === undefined,
  },
];
