/**
 * The provider interface of the distance worker, and the error classes every provider maps its
 * failures to.
 */
import type { TravelMode } from '../commute.ts';

/** Statuses stored in `commute_distances.status` (schema CHECK). */
export type DistanceStatus = 'OK' | 'NOT_FOUND' | 'ZERO_RESULTS';

/** One home -> office computation. */
export interface DistanceRequest {
  /** One-line home address (see originAddress). */
  origin: string;
  /** Home coordinates from the data set, when known (offline provider only). */
  originPoint: { lat: number; lon: number } | null;
  mode: TravelMode;
}

/** Metres and seconds; both null unless status is OK. */
export interface DistanceResult {
  status: DistanceStatus;
  distance_m: number | null;
  duration_s: number | null;
}

/**
 * - `transient`: OVER_QUERY_LIMIT / 429, 5xx, UNKNOWN_ERROR, timeout, network: retry with backoff.
 * - `auth`: bad or restricted API key, API not enabled: no retry can fix it; stop with a clear error.
 * - `permanent`: the request itself is invalid for this employee: dead-letter the event.
 */
export type ProviderErrorKind = 'transient' | 'auth' | 'permanent';

export class ProviderError extends Error {
  /**
   * @param kind how the worker reacts (see {@link ProviderErrorKind}).
   * @param code provider code, e.g. "OVER_QUERY_LIMIT", "HTTP_429", "API_KEY_INVALID"; used as DLQ reason suffix.
   */
  constructor(
    readonly kind: ProviderErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export interface DistanceProvider {
  /** Config name: which API answers. */
  readonly name: 'routes' | 'distance-matrix' | 'offline';
  /** Value of `commute_distances.provider`. */
  readonly provider: 'google' | 'offline';
  /** One cheap request that proves the key works. @throws ProviderError (kind `auth` for a bad key). */
  probe(): Promise<void>;
  /** @throws ProviderError */
  compute(request: DistanceRequest): Promise<DistanceResult>;
}
