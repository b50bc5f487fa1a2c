/**
 * "Has the pipeline caught up?" waits used by the demo before it runs the batch: the CDC slot
 * has confirmed a given LSN; consumer-group lag comes from services/common/status/kafka-lag.ts.
 * Each wait polls, prints what it is still waiting for, and times out with an error naming it.
 */
import type pg from 'pg';

export class CatchUpTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatchUpTimeout';
  }
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
