/**
 * Stop signalling of the CDC service and the bounded flush of the graceful shutdown (Debezium's
 * ChangeEventSourceContext and the producer flush of its task's stop).
 *
 * {@link Lifecycle} records a stop request (SIGTERM/SIGINT, `CdcService.stop`) and the fatal error
 * that ended the run, if any; loops ask {@link Lifecycle.isStopping}, the coordinator awaits
 * {@link Lifecycle.stopped} and aborts its retries through {@link Lifecycle.signal}. A failure of
 * one connection attempt is the session's (session.ts), not the lifecycle's. No I/O.
 */

export class Lifecycle {
  private stopping = false;
  private fatalError: Error | null = null;
  private resolveStop!: () => void;
  private readonly abort = new AbortController();
  /** Resolves when a stop is requested. */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStop = resolve));
  /** Aborted when a stop is requested (ends a reconnection backoff at once). */
  readonly signal: AbortSignal = this.abort.signal;

  /** Requests a graceful stop. @returns false when stopping already. */
  requestStop(): boolean {
    if (this.stopping) return false;
    this.stopping = true;
    this.resolveStop();
    this.abort.abort(new Error('stop requested'));
    return true;
  }

  /** True once a stop was requested. */
  isStopping(): boolean {
    return this.stopping;
  }

  /** Records an error that ended the run (only the first counts). */
  record(err: Error): void {
    if (!this.fatalError) this.fatalError = err;
  }

  /** The first fatal error, if any. */
  error(): Error | null {
    return this.fatalError;
  }
}

/**
 * Waits for `flush` at most `timeoutMs`.
 * @throws the flush's error, or Error("flush timed out").
 */
export async function flushWithin(flush: () => Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([flush(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('flush timed out')), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}
