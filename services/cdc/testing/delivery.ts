/**
 * Test support: checks the CDC delivery guarantee on what a topic holds (every change, in commit
 * order per key; a duplicate only as an identical at-least-once re-delivery, services/cdc/README.md
 * "Delivery"), and a transactional load whose committed changes are known exactly even when the
 * server restarts under it.
 */
import pg from 'pg';
import { expect } from 'vitest';
import { pgConnection, type Config } from '../../common/config.ts';
import { envelope, type Envelope } from './harness.ts';
import type { ReadRecord } from './kafka-read.ts';

/** The envelope without `ts_ms`/`ts_us`/`ts_ns` (processing time, the one thing a re-delivery may change). */
export function content(value: string): string {
  const { ts_ms: _processedAt, ts_us: _us, ts_ns: _ns, ...rest } = JSON.parse(value) as Envelope & { ts_us?: number; ts_ns?: number };
  return JSON.stringify(rest);
}

/**
 * Checks the duplicate rule and returns the events de-duplicated, per key in partition order.
 * Every delete must be followed by a tombstone for its key in at least one of its deliveries: a
 * crash may land between a delete and its tombstone (two records, acknowledged in different
 * produce batches), and the re-delivery from the last confirmed LSN then writes both again. A
 * record seen again (same key, LSN and op) must be identical to its first delivery except `ts_ms`.
 */
export function dedupe(records: ReadRecord[]): Map<string, Envelope[]> {
  const seen = new Map<string, string>();
  const perKey = new Map<string, Envelope[]>();
  const byPartition = new Map<number, ReadRecord[]>();
  /** Per delete (key|lsn|d): whether one of its deliveries is directly followed by its tombstone. */
  const tombstoned = new Map<string, boolean>();
  for (const r of records) {
    if (!byPartition.has(r.partition)) byPartition.set(r.partition, []);
    byPartition.get(r.partition)!.push(r);
  }
  for (const list of byPartition.values()) {
    list.forEach((r, i) => {
      if (r.value === null) return;
      const e = envelope(r.value)!;
      const id = `${r.key}|${e.source.lsn}|${e.op}`;
      if (e.op === 'd') {
        const next = list[i + 1];
        tombstoned.set(id, (tombstoned.get(id) ?? false) || (next !== undefined && next.key === r.key && next.value === null));
      }
      const c = content(r.value);
      const previous = seen.get(id);
      if (previous !== undefined) {
        expect(c, `re-delivery of ${id} differs`).toBe(previous);
        return;
      }
      seen.set(id, c);
      if (!perKey.has(r.key!)) perKey.set(r.key!, []);
      perKey.get(r.key!)!.push(e);
    });
  }
  expect([...tombstoned].filter(([, followed]) => !followed).map(([id]) => id), 'deletes never followed by their tombstone').toEqual([]);
  return perKey;
}

/** Applies events in order to a table of (id integer, n integer): r/c/u upsert `after`, d deletes. */
export function replay(perKey: Map<string, Envelope[]>): Map<number, number> {
  const state = new Map<number, number>();
  for (const events of perKey.values()) {
    for (const e of events) {
      if (e.op === 'd') state.delete(e.before!.id as number);
      else state.set(e.after!.id as number, e.after!.n as number);
    }
  }
  return state;
}

/** The (id, n) rows of a table. */
export async function tableState(db: Pick<pg.Client, 'query'>, table: string): Promise<Map<number, number>> {
  const res = await db.query<{ id: number; n: number }>(`SELECT id, n FROM ${table}`);
  return new Map(res.rows.map((r) => [r.id, r.n]));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A steady transactional load on a table `(id integer PRIMARY KEY, n integer NOT NULL)` that
 * survives server restarts: transaction k inserts ids 20k+1..20k+20, updates the 10 odd-offset
 * ids of transaction k-1 and deletes 2 of its even-offset ones. A change is recorded as expected
 * only once its transaction is known committed: when the connection breaks around a COMMIT, the
 * load reconnects and looks whether the transaction's first row exists.
 */
export class ReconnectingLoad {
  /** Ops ("c", "u", "d") per id, in commit order, of committed transactions only. */
  readonly expected = new Map<number, string[]>();
  /** Transactions known committed. */
  committed = 0;
  /** Connection failures ridden out. */
  reconnects = 0;
  private client: pg.Client | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly config: Config, private readonly table: string, private readonly pauseMs = 20) {}

  /** Starts the load in the background. */
  start(): void {
    this.running = this.loop();
  }

  /** Stops after the transaction in progress; rejects if the load failed for good. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  /** Resolves once `n` more transactions committed. */
  async waitFor(n: number, timeoutMs = 60_000): Promise<void> {
    const target = this.committed + n;
    const deadline = Date.now() + timeoutMs;
    while (this.committed < target) {
      if (Date.now() > deadline) throw new Error(`load: ${target - this.committed} transactions short after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  private async connect(): Promise<pg.Client> {
    for (;;) {
      const c = new pg.Client(pgConnection(this.config, 'admin'));
      c.on('error', () => undefined); // the failing query reports it
      try {
        await c.connect();
        return c;
      } catch {
        await c.end().catch(() => undefined);
        await sleep(250);
      }
    }
  }

  private note(id: number, op: string): void {
    if (!this.expected.has(id)) this.expected.set(id, []);
    this.expected.get(id)!.push(op);
  }

  private async loop(): Promise<void> {
    let k = 0;
    while (!this.stopping) {
      this.client ??= await this.connect();
      const from = k * 20 + 1;
      const prev = (k - 1) * 20 + 1;
      const updated = k > 0 ? Array.from({ length: 10 }, (_, i) => prev + 1 + i * 2) : [];
      const deleted = k > 0 ? [prev, prev + 2] : [];
      let committed: boolean;
      try {
        await this.client.query('BEGIN');
        await this.client.query(`INSERT INTO ${this.table} SELECT g, 0 FROM generate_series($1::int, $2::int) g`, [from, from + 19]);
        if (k > 0) {
          await this.client.query(`UPDATE ${this.table} SET n = n + 1 WHERE id = ANY($1::int[])`, [updated]);
          await this.client.query(`DELETE FROM ${this.table} WHERE id = ANY($1::int[])`, [deleted]);
        }
        await this.client.query('COMMIT');
        committed = true;
      } catch {
        this.reconnects++;
        await this.client.end().catch(() => undefined);
        this.client = await this.connect();
        const res = await this.client.query(`SELECT 1 FROM ${this.table} WHERE id = $1`, [from]);
        committed = (res.rowCount ?? 0) > 0;
      }
      if (committed) {
        for (let id = from; id < from + 20; id++) this.note(id, 'c');
        updated.forEach((id) => this.note(id, 'u'));
        deleted.forEach((id) => this.note(id, 'd'));
        this.committed++;
        k++;
      }
      await sleep(this.pauseMs);
    }
  }
}
