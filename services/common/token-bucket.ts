/**
 * Rate pacing shared by the services that call rate-limited HTTP APIs: a token bucket pacing
 * calls to `ratePerSecond` with bursts of up to `burst` (e.g. Slack's incoming-webhook limit of
 * about 1 post per second, or a Google Maps request rate). Time is passed in, so the rule is
 * testable without waiting. Pure.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    nowMs = Date.now(),
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  private refill(nowMs: number): void {
    if (nowMs <= this.lastMs) return;
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.ratePerSecond) / 1000);
    this.lastMs = nowMs;
  }

  /** Milliseconds to wait before the next call may start (0 = now). */
  waitMs(nowMs = Date.now()): number {
    this.refill(nowMs);
    const held = Math.max(0, this.lastMs - nowMs);
    if (this.tokens >= 1) return held;
    return held + Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }

  /** Records a call starting now; call after waiting {@link waitMs}. */
  take(nowMs = Date.now()): void {
    this.refill(nowMs);
    this.tokens -= 1;
  }

  /** After a rate-limit answer (429 + Retry-After): nothing starts before `untilMs`, then one call may go at once. */
  holdUntil(untilMs: number): void {
    this.tokens = 1;
    this.lastMs = Math.max(this.lastMs, untilMs);
  }
}
