/**
 * Stop and failure signalling of the CDC service, and the bounded flush of the graceful shutdown
 * (Debezium's ChangeEventSourceContext and the producer flush of its task's stop).
 *
 * {@link Lifecycle} records the first of: a stop request (SIGTERM/SIGINT, `CdcService.stop`) or a
 * fatal error; every loop asks {@link Lifecycle.interrupted} and the coordinator awaits
 * {@link Lifecycle.stopped} / {@link Lifecycle.failed}. No I/O.
 */

export class Lifecycle {
  private stopping = false;
  private fatalError: Error | null = null;
  private resolveStop!: () => void;
  private rejectFatal!: (err: Error) => void;
  /** Resolves when a stop is requested. */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStop = resolve));
  /** Rejects with the first fatal error. */
  readonly failed = new Promise<never>((_, reject) => (this.rejectFatal = reject));

  constructor() {
    this.failed.catch(() => undefined);
  }

  /** Requests a graceful stop. @returns false when stopping already. */
  requestStop(): boolean {
    if (this.stopping) return false;
    this.stopping = true;
    this.resolveStop();
    return true;
  }

  /** Marks the service as stopping without a request (the run is over). */
  markStopping(): void {
    this.stopping = true;
  }

  /** True once a stop was requested. */
  isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Records a fatal error.
   * @returns false when it came too late to matter (already failed or stopping): log it only.
   */
  fail(err: Error): boolean {
    if (this.fatalError || this.stopping) return false;
    this.fatalError = err;
    this.rejectFatal(err);
    return true;
  }

  /** Records an error that ended the run (only the first counts). */
  record(err: Error): void {
    if (!this.fatalError) this.fatalError = err;
  }

  /** The first fatal error, if any. */
  error(): Error | null {
    return this.fatalError;
  }

  /** True once the service should stop doing work: stop requested or a fatal error. */
  interrupted(): boolean {
    return this.stopping || this.fatalError !== null;
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
