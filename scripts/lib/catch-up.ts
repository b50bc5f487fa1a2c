/**
 * "Has the pipeline caught up?" checks used by the demo before it runs the batch:
 * the CDC slot has confirmed a given LSN, and consumer groups have committed every offset of
 * their topics (lag 0). Each wait polls, prints what it is still waiting for, and times out with
 * an error naming the laggard.
 */
import type { Admin } from 'kafkajs';
import type pg from 'pg';

export class CatchUpTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatchUpTimeout';
  }
}

/** Sum of (high watermark - committed offset) over the group's partitions of `topics`. */
export async function groupLag(admin: Admin, groupId: string, topics: string[]): Promise<number> {
  if (topics.length === 0) return 0;
  const committed = await admin.fetchOffsets({ groupId, topics });
  let lag = 0;
  for (const { topic, partitions } of committed) {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
    for (const p of partitions) {
      const end = ends.get(p.partition) ?? 0;
      const at = Number(p.offset) < 0 ? 0 : Number(p.offset);
      lag += Math.max(0, end - at);
    }
  }
  return lag;
}

/** The CDC slot's confirmed_flush_lsn is at or past `lsn`. */
export async function slotConfirmed(db: pg.Client, slot: string, lsn: string): Promise<boolean> {
  const res = await db.query<{ done: boolean | null }>(
    'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
    [slot, lsn],
  );
  return res.rows[0]?.done === true;
}

/**
 * Polls `check` every `intervalMs` until it returns true.
 * @param describe what is awaited, for progress lines and the timeout message.
 * @throws CatchUpTimeout after `timeoutMs`.
 */
export async function waitFor(
  describe: string,
  check: () => Promise<boolean | { done: boolean; detail: string }>,
  options: { timeoutMs: number; intervalMs?: number; say?: (line: string) => void },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastSaid = 0;
  for (;;) {
    const result = await check();
    const done = typeof result === 'boolean' ? result : result.done;
    if (done) return;
    const detail = typeof result === 'boolean' ? '' : ` (${result.detail})`;
    if (Date.now() > deadline) throw new CatchUpTimeout(`timed out waiting for ${describe}${detail}`);
    if (Date.now() - lastSaid > 5000) {
      options.say?.(`waiting for ${describe}${detail}`);
      lastSaid = Date.now();
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
  }
}
