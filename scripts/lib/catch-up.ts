/**
 * "Has the pipeline caught up?" waits used by the demo: consumer-group lag (from
 * services/common/status/kafka-lag.ts) of the services outside the lakehouse (Slack notifier,
 * distance worker). Whether gold has caught up is the refresh's completeness watermark
 * (`npm run refresh -- --until-caught-up`, services/batch/watch.ts).
 * Each wait polls, prints what it is still waiting for, and times out with an error naming it.
 */

export class CatchUpTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatchUpTimeout';
  }
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
