/**
 * Delivery rules for Slack incoming webhooks (pure): Retry-After, which failures are retried, and
 * the backoff. Pacing is services/common/token-bucket.ts.
 *
 * Source: Slack docs, "Rate limits" (incoming webhooks: about 1 message per second per webhook,
 * short bursts tolerated; over the limit Slack answers HTTP 429 with a Retry-After header in
 * seconds) and "Incoming webhooks, handling errors" (400 invalid_payload / invalid_blocks,
 * 403 action_prohibited, 404 channel_not_found / no_service, 410 channel_is_archived are permanent).
 */

/** How one failed POST is handled. */
export type FailureClass =
  /** 429: wait `retryAfterMs`, then post again; never gives up, never counts as a retry. */
  | { kind: 'rate-limited'; retryAfterMs: number }
  /** 5xx, 408, timeout or network error: retry with exponential backoff, forever. */
  | { kind: 'transient'; detail: string }
  /** Any other 4xx: the payload or the webhook is wrong; dead-letter the event. */
  | { kind: 'permanent'; reason: string; detail: string };

/**
 * Parses a Retry-After header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * @returns milliseconds to wait (>= 0), or null when absent or unparsable.
 */
export function parseRetryAfter(header: string | null | undefined, nowMs = Date.now()): number | null {
  if (header === null || header === undefined) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - nowMs);
}

/**
 * Classifies a failed POST.
 * @param status HTTP status, or undefined when no response arrived (network error, timeout).
 * @param body response body (Slack puts the error code there, e.g. "invalid_blocks").
 * @param retryAfterMs parsed Retry-After of a 429; `fallbackRetryAfterMs` when missing.
 */
export function classifyFailure(
  status: number | undefined,
  body: string,
  retryAfterMs: number | null,
  fallbackRetryAfterMs = 1_000,
): FailureClass {
  if (status === undefined) return { kind: 'transient', detail: body || 'no response' };
  if (status === 429) return { kind: 'rate-limited', retryAfterMs: retryAfterMs ?? fallbackRetryAfterMs };
  if (status >= 500 || status === 408) return { kind: 'transient', detail: `HTTP ${status} ${body}`.trim() };
  return { kind: 'permanent', reason: `slack_http_${status}`, detail: `HTTP ${status}: ${body || '(empty body)'}`.slice(0, 500) };
}

/** Exponential backoff: `minMs * 2^retry`, capped at `maxMs`. */
export function backoffMs(retry: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(retry, 30));
}
