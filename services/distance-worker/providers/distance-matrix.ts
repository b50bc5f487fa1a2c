/**
 * Google Distance Matrix API (legacy, for existing Cloud projects) through the official
 * @googlemaps/google-maps-services-js `Client`.
 *
 * The client takes a per-request `url` (its `distancematrix({ url })` defaults to
 * https://maps.googleapis.com/maps/api/distancematrix/json), so GOOGLE_MAPS_BASE_URL can point it
 * at a local test server. Its axios instance has retry-axios attached (3 retries on 429/5xx by
 * default); that is switched off per request (`raxConfig.retry = 0`) because the worker owns the
 * retry policy and must heartbeat its consumer group while it waits.
 *
 * Response (Google docs, "Distance Matrix API request and response"): top-level `status`, then
 * `rows[i].elements[j]` with `status`, `distance.value` (metres), `duration.value` (seconds).
 * The client's adapter turns a non-OK top-level status into an HTTP-like error code (REQUEST_DENIED
 * -> 403, OVER_QUERY_LIMIT -> 429, INVALID_REQUEST -> 400, UNKNOWN_ERROR -> 500) and rejects.
 *
 * Mapping: element OK -> OK; NOT_FOUND -> NOT_FOUND; ZERO_RESULTS and MAX_ROUTE_LENGTH_EXCEEDED ->
 * ZERO_RESULTS; OVER_QUERY_LIMIT, OVER_DAILY_LIMIT, UNKNOWN_ERROR, 5xx, network -> transient;
 * REQUEST_DENIED -> auth; INVALID_REQUEST, MAX_ELEMENTS_EXCEEDED, MAX_DIMENSIONS_EXCEEDED -> permanent.
 */
import { Client, TravelMode as GoogleTravelMode, UnitSystem, type DistanceMatrixRequest } from '@googlemaps/google-maps-services-js';
import type { TravelMode } from '../commute.ts';
import { ProviderError, type DistanceProvider, type DistanceRequest, type DistanceResult } from './types.ts';

export const DISTANCE_MATRIX_PATH = '/maps/api/distancematrix/json';

const DM_TRAVEL_MODE: Record<TravelMode, GoogleTravelMode> = {
  walking: GoogleTravelMode.walking,
  bicycling: GoogleTravelMode.bicycling,
  driving: GoogleTravelMode.driving,
  transit: GoogleTravelMode.transit,
};

interface MatrixData {
  status?: string;
  error_message?: string;
  rows?: { elements?: { status?: string; distance?: { value?: number }; duration?: { value?: number } }[] }[];
}

/** Top-level statuses and how the worker reacts. */
function topLevelError(status: string, message: string): ProviderError {
  const text = `${status}${message ? `: ${message}` : ''}`;
  switch (status) {
    case 'REQUEST_DENIED':
      return new ProviderError('auth', status, text);
    case 'OVER_QUERY_LIMIT':
    case 'OVER_DAILY_LIMIT':
    case 'UNKNOWN_ERROR':
      return new ProviderError('transient', status, text);
    default:
      return new ProviderError('permanent', status, text);
  }
}

/**
 * Interprets a Distance Matrix JSON answer for one origin and one destination (pure).
 * @throws ProviderError for a non-OK top-level status or an unexpected element status.
 */
export function parseDistanceMatrix(data: MatrixData): DistanceResult {
  if (data.status !== 'OK') throw topLevelError(String(data.status), data.error_message ?? '');
  const element = data.rows?.[0]?.elements?.[0];
  if (!element) throw new ProviderError('transient', 'BAD_RESPONSE', 'Distance Matrix answered OK without rows[0].elements[0]');
  switch (element.status) {
    case 'OK': {
      const distance = element.distance?.value;
      const duration = element.duration?.value;
      if (typeof distance !== 'number' || typeof duration !== 'number') throw new ProviderError('transient', 'BAD_RESPONSE', 'element OK without distance.value / duration.value');
      return { status: 'OK', distance_m: Math.round(distance), duration_s: Math.round(duration) };
    }
    case 'NOT_FOUND':
      return { status: 'NOT_FOUND', distance_m: null, duration_s: null };
    case 'ZERO_RESULTS':
    case 'MAX_ROUTE_LENGTH_EXCEEDED':
      return { status: 'ZERO_RESULTS', distance_m: null, duration_s: null };
    default:
      throw new ProviderError('permanent', `ELEMENT_${String(element.status)}`, `unexpected element status ${String(element.status)}`);
  }
}

/** Maps a rejection of `client.distancematrix` (axios error) to a ProviderError. */
export function distanceMatrixFailure(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as { response?: { status?: number; data?: MatrixData }; message?: string; code?: string };
  const data = e.response?.data;
  if (data && typeof data === 'object' && typeof data.status === 'string' && data.status !== 'OK') return topLevelError(data.status, data.error_message ?? '');
  const status = e.response?.status;
  if (status === undefined) return new ProviderError('transient', 'NETWORK', `Distance Matrix unreachable: ${e.code ?? ''} ${e.message ?? String(err)}`.trim());
  if (status === 401 || status === 403) return new ProviderError('auth', `HTTP_${status}`, `HTTP ${status}`);
  if (status === 429 || status === 408 || status >= 500) return new ProviderError('transient', `HTTP_${status}`, `HTTP ${status}`);
  return new ProviderError('permanent', `HTTP_${status}`, `HTTP ${status}`);
}

export class DistanceMatrixProvider implements DistanceProvider {
  readonly name = 'distance-matrix' as const;
  readonly provider = 'google' as const;
  private readonly client = new Client({});

  /**
   * @param baseUrl GOOGLE_MAPS_BASE_URL (https://maps.googleapis.com, or a local test server).
   * @param apiKey the `key` parameter, never logged.
   */
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly office: { lat: number; lon: number },
    private readonly timeoutMs: number,
  ) {}

  private async call(origin: string | { lat: number; lng: number }, mode: TravelMode): Promise<DistanceResult> {
    const request: DistanceMatrixRequest & { raxConfig: { retry: number; noResponseRetries: number } } = {
      url: `${this.baseUrl}${DISTANCE_MATRIX_PATH}`,
      timeout: this.timeoutMs,
      raxConfig: { retry: 0, noResponseRetries: 0 },
      params: {
        origins: [origin],
        destinations: [{ lat: this.office.lat, lng: this.office.lon }],
        mode: DM_TRAVEL_MODE[mode],
        units: UnitSystem.metric,
        language: 'fr',
        region: 'fr',
        key: this.apiKey,
      },
    };
    let data: MatrixData;
    try {
      data = (await this.client.distancematrix(request)).data as MatrixData;
    } catch (err) {
      throw distanceMatrixFailure(err);
    }
    return parseDistanceMatrix(data);
  }

  /** Office -> office by car: proves the key and the API are enabled. */
  async probe(): Promise<void> {
    await this.call({ lat: this.office.lat, lng: this.office.lon }, 'driving');
  }

  async compute(request: DistanceRequest): Promise<DistanceResult> {
    return this.call(request.origin, request.mode);
  }
}
