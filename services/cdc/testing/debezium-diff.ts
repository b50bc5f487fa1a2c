/**
 * Test support for the Debezium compatibility test (debezium-compat.int.test.ts): compares the
 * records two connectors wrote for the same tables and changes, field by field, and lists every
 * difference with a path (`partition`, `value`, `after.c_money`, `source.ts_us`, `headers.<name>`,
 * `record` for a record only one side has, `order` for a partition whose sequence of changes differs).
 *
 * Pairing: records of a keyed table are paired per key, in offset order (Kafka keeps the order of
 * one key); records with a null key (keyless tables, TRUNCATE) have no order across partitions, so
 * they are grouped by op and LSN and paired in the order of their row images. Snapshot records are
 * grouped without their LSN (each connector has its own consistent point).
 * The topic prefixes of the two sides are replaced by `<prefix>` before comparing (`source.name`,
 * the context header naming the connector).
 */
import { readTopic, type KafkaTarget, type ReadRecord } from './kafka-read.ts';

/** Records per table, in partition/offset order. */
export type Capture = Map<string, ReadRecord[]>;

export interface Difference {
  table: string;
  /** Which record: `key {...} #n` or `keyless <op> #n`, plus its op. */
  where: string;
  /** The op of the paired event ("tombstone" for a tombstone, "" when only one side has it). */
  op: string;
  path: string;
  ours: unknown;
  theirs: unknown;
}

interface Parsed {
  record: ReadRecord;
  value: Record<string, unknown> | null;
  op: string;
}

function parse(record: ReadRecord, prefix: string): Parsed {
  const value = record.value === null ? null : (JSON.parse(record.value) as Record<string, unknown>);
  const source = value?.source as Record<string, unknown> | undefined;
  if (source?.name === prefix) source.name = '<prefix>';
  return { record, value, op: value === null ? 'tombstone' : String(value.op) };
}

function canonicalKey(key: string | null): string {
  return key === null ? 'null' : JSON.stringify(JSON.parse(key));
}

function lsnOf(p: Parsed): string {
  const source = p.value?.source as Record<string, unknown> | undefined;
  return source?.snapshot && source.snapshot !== 'false' ? 'snapshot' : String(source?.lsn ?? '');
}

/** Group id of a record: its key, or for a null key its op and LSN (snapshot: no LSN). */
function groupOf(p: Parsed): string {
  if (p.record.key !== null) return `key ${canonicalKey(p.record.key)}`;
  return `keyless ${p.op} ${lsnOf(p)}`;
}

function groups(records: ReadRecord[], prefix: string): Map<string, Parsed[]> {
  const out = new Map<string, Parsed[]>();
  for (const r of records) {
    const p = parse(r, prefix);
    const g = groupOf(p);
    let list = out.get(g);
    if (!list) out.set(g, (list = []));
    list.push(p);
  }
  for (const [g, list] of out) {
    if (g.startsWith('keyless')) list.sort((a, b) => (JSON.stringify([a.value?.before, a.value?.after]) < JSON.stringify([b.value?.before, b.value?.after]) ? -1 : 1));
  }
  return out;
}

function deepDiff(path: string, a: unknown, b: unknown, out: { path: string; ours: unknown; theirs: unknown }[]): void {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) deepDiff(path ? `${path}.${k}` : k, a[k], b[k], out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, ours: a, theirs: b });
}

function headersOf(r: ReadRecord, prefix: string): Record<string, string> {
  const h = { ...r.headers };
  const name = '__debezium.context.connectorLogicalName';
  if (h[name] === prefix) h[name] = '<prefix>';
  return h;
}

/** Sequence of (key, op) per partition, keyed records only: the order each partition's consumer sees. */
function partitionOrder(records: ReadRecord[], prefix: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const r of records) {
    if (r.key === null) continue;
    const p = parse(r, prefix);
    let list = out.get(r.partition);
    if (!list) out.set(r.partition, (list = []));
    list.push(`${canonicalKey(r.key)} ${p.op}`);
  }
  return out;
}

/**
 * Every difference between the two captures.
 * @param prefixes the topic prefix of each side (replaced by `<prefix>` before comparing).
 */
export function compareCaptures(ours: Capture, theirs: Capture, prefixes: { ours: string; theirs: string }): Difference[] {
  const out: Difference[] = [];
  for (const table of new Set([...ours.keys(), ...theirs.keys()])) {
    const a = ours.get(table) ?? [];
    const b = theirs.get(table) ?? [];
    const ga = groups(a, prefixes.ours);
    const gb = groups(b, prefixes.theirs);
    for (const g of new Set([...ga.keys(), ...gb.keys()])) {
      const la = ga.get(g) ?? [];
      const lb = gb.get(g) ?? [];
      for (let i = 0; i < Math.max(la.length, lb.length); i++) {
        const pa = la[i];
        const pb = lb[i];
        const where = `${g} #${i}`;
        if (!pa || !pb) {
          out.push({ table, where, op: (pa ?? pb)!.op, path: 'record', ours: pa ? pa.record.value : undefined, theirs: pb ? pb.record.value : undefined });
          continue;
        }
        const op = pa.op === pb.op ? pa.op : `${pa.op}/${pb.op}`;
        const diffs: { path: string; ours: unknown; theirs: unknown }[] = [];
        if (pa.record.partition !== pb.record.partition) diffs.push({ path: 'partition', ours: pa.record.partition, theirs: pb.record.partition });
        if ((pa.value === null) !== (pb.value === null)) diffs.push({ path: 'value', ours: pa.record.value, theirs: pb.record.value });
        else deepDiff('', pa.value, pb.value, diffs);
        deepDiff('headers', headersOf(pa.record, prefixes.ours), headersOf(pb.record, prefixes.theirs), diffs);
        for (const d of diffs) out.push({ table, where, op, ...d });
      }
    }
    const oa = partitionOrder(a, prefixes.ours);
    const ob = partitionOrder(b, prefixes.theirs);
    for (const p of new Set([...oa.keys(), ...ob.keys()])) {
      const sa = (oa.get(p) ?? []).join(' | ');
      const sb = (ob.get(p) ?? []).join(' | ');
      if (sa !== sb) out.push({ table, where: `partition ${p}`, op: '', path: 'order', ours: sa, theirs: sb });
    }
  }
  return out;
}

/**
 * Every record of several topics up to their current high watermarks (missing topics read as empty).
 * @returns records per topic, in partition/offset order.
 */
export async function readTopics(kafka: KafkaTarget, topics: string[]): Promise<Map<string, ReadRecord[]>> {
  const out = new Map<string, ReadRecord[]>();
  for (const topic of topics) out.set(topic, await readTopic(kafka, topic).catch(() => [] as ReadRecord[]));
  return out;
}
