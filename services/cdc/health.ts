/**
 * The CDC service's health, as `/healthz` and the `cdc_healthy` gauge report it, and the outage
 * bookkeeping that makes one outage one warning.
 *
 * States: `starting` (connecting, preparing the slot), `snapshot` (initial snapshot running),
 * `streaming`, `recovering` (a retriable failure: reconnecting with backoff), `stopping`.
 * Healthy = `snapshot` or `streaming`. An outage starts at the first failure after the service was
 * healthy (or at start-up) and ends when it streams again; {@link Health.failed} says whether a
 * failure opened a new outage (log a warning) or belongs to the current one (log at debug).
 *
 * Pure: the clock is passed in.
 */
import type { FailureComponent } from './error-handler.ts';

export type CdcState = 'starting' | 'snapshot' | 'streaming' | 'recovering' | 'stopping';

export interface Outage {
  component: FailureComponent;
  reason: string;
  /** First failure, ms since epoch. */
  since: number;
  /** Failed attempts so far (the failure that opened it included). */
  attempts: number;
}

/** The `/healthz` answer. */
export interface HealthReport {
  httpStatus: 200 | 503;
  body: { status: 'ok' | 'unhealthy'; state: CdcState; since: string; outage?: { component: FailureComponent; reason: string; since: string; attempts: number; seconds: number } };
}

export class Health {
  private current: CdcState = 'starting';
  private changedAt: number;
  private outage: Outage | null = null;

  constructor(now: number) {
    this.changedAt = now;
  }

  state(): CdcState {
    return this.current;
  }

  healthy(): boolean {
    return this.current === 'snapshot' || this.current === 'streaming';
  }

  private set(state: CdcState, now: number): void {
    if (state !== this.current) this.changedAt = now;
    this.current = state;
  }

  /** Connecting again (after a failure the state stays `recovering` until healthy). */
  connecting(now: number): void {
    if (this.current !== 'recovering') this.set('starting', now);
  }

  snapshotting(now: number): void {
    this.set('snapshot', now);
  }

  /**
   * Streams (again).
   * @returns the outage that just ended, if any (log its length).
   */
  streaming(now: number): Outage | null {
    this.set('streaming', now);
    const ended = this.outage;
    this.outage = null;
    return ended;
  }

  /**
   * Records a retriable failure.
   * @returns true when it opened a new outage (log one warning), false when it continues one.
   */
  failed(component: FailureComponent, reason: string, now: number): boolean {
    this.set('recovering', now);
    if (this.outage) {
      this.outage.attempts++;
      this.outage.component = component;
      this.outage.reason = reason;
      return false;
    }
    this.outage = { component, reason, since: now, attempts: 1 };
    return true;
  }

  stopping(now: number): void {
    this.set('stopping', now);
  }

  /** The current outage, if any. */
  currentOutage(): Outage | null {
    return this.outage;
  }

  report(now: number): HealthReport {
    const healthy = this.healthy();
    const o = this.outage;
    return {
      httpStatus: healthy ? 200 : 503,
      body: {
        status: healthy ? 'ok' : 'unhealthy',
        state: this.current,
        since: new Date(this.changedAt).toISOString(),
        ...(o ? { outage: { component: o.component, reason: o.reason, since: new Date(o.since).toISOString(), attempts: o.attempts, seconds: Math.round((now - o.since) / 1000) } } : {}),
      },
    };
  }
}
