/**
 * Google Routes API, computeRouteMatrix, through its documented REST endpoint
 * (POST {base}/distanceMatrix/v2:computeRouteMatrix with the X-Goog-Api-Key and X-Goog-FieldMask
 * headers; Google docs, "Method: computeRouteMatrix"). The official @googlemaps/routing client
 * speaks gRPC and is not installed; the REST form is the same API and lets tests point the base
 * URL at a local server.
 *
 * Response (JSON array, one element per origin/destination pair):
 * `{ originIndex, destinationIndex, status: google.rpc.Status, condition, distanceMeters, duration: "123s" }`;
 * proto3 JSON omits zero values, so a missing index or distance means 0.
 *
 * Mapping to `commute_distances.status`:
 * - condition ROUTE_EXISTS -> OK (distanceMeters, duration)
 * - condition ROUTE_NOT_FOUND -> ZERO_RESULTS
 * - element status NOT_FOUND (5) or INVALID_ARGUMENT (3, a waypoint that cannot be geocoded) -> NOT_FOUND
 * - element status RESOURCE_EXHAUSTED (8), UNAVAILABLE (14), INTERNAL (13), DEADLINE_EXCEEDED (4) -> transient
 * - HTTP 429 / 5xx / network -> transient; HTTP 401/403 or API_KEY_INVALID -> auth; other HTTP 4xx -> permanent
 */
import type { TravelMode } from '../commute.ts';
import { ProviderError, type DistanceProvider, type DistanceRequest, type DistanceResult } from './types.ts';

export const ROUTES_FIELD_MASK = 'originIndex,destinationIndex,status,condition,distanceMeters,duration';
export const ROUTES_MATRIX_PATH = '/distanceMatrix/v2:computeRouteMatrix';

const ROUTES_TRAVEL_MODE: Record<TravelMode, string> = { walking: 'WALK', bicycling: 'BICYCLE', driving: 'DRIVE', transit: 'TRANSIT' };

/** gRPC codes (google.rpc.Code) as they appear in an element's status. */
const GRPC = { OK: 0, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14 } as const;

type Waypoint = { address: string } | { location: { latLng: { latitude: number; longitude: number } } };

/** Request body for one origin and one destination (pure). */
export function routesMatrixBody(origin: Waypoint, destination: Waypoint, mode: TravelMode) {
  return {
    origins: [{ waypoint: origin }],
    destinations: [{ waypoint: destination }],
    travelMode: ROUTES_TRAVEL_MODE[mode],
    // Traffic-unaware: the commute distance should not depend on the time the event arrived.
    ...(mode === 'driving' ? { routingPreference: 'TRAFFIC_UNAWARE' } : {}),
    languageCode: 'fr-FR',
    regionCode: 'FR',
  };
}

interface RoutesElement {
  originIndex?: number;
  destinationIndex?: number;
  status?: { code?: number; message?: string };
  condition?: string;
  distanceMeters?: number;
  duration?: string;
}

/** "123s" / "123.5s" -> 124 (seconds). */
export function parseProtoDuration(duration: string | undefined): number {
  if (!duration) return 0;
  const match = /^(-?\d+(?:\.\d+)?)s$/.exec(duration);
  if (!match) throw new ProviderError('permanent', 'BAD_RESPONSE', `unexpected duration ${JSON.stringify(duration)}`);
  return Math.round(Number(match[1]));
}

/**
 * Interprets an HTTP answer of computeRouteMatrix (pure).
 * @param httpStatus HTTP status code.
 * @param body parsed JSON body (an element array on 200, `{ error: { code, message, status, details } }` otherwise).
 * @throws ProviderError for anything that is not a per-element result.
 */
export function parseRoutesMatrix(httpStatus: number, body: unknown): DistanceResult {
  if (httpStatus !== 200) throw routesHttpError(httpStatus, body);
  const elements = Array.isArray(body) ? (body as RoutesElement[]) : null;
  const element = elements?.find((e) => (e.originIndex ?? 0) === 0 && (e.destinationIndex ?? 0) === 0);
  if (!element) throw new ProviderError('transient', 'BAD_RESPONSE', 'computeRouteMatrix answered without the element of origin 0 / destination 0');
  const code = element.status?.code ?? GRPC.OK;
  if (code !== GRPC.OK) {
    const message = element.status?.message ?? '';
    if (code === GRPC.NOT_FOUND || code === GRPC.INVALID_ARGUMENT) return { status: 'NOT_FOUND', distance_m: null, duration_s: null };
    if (code === GRPC.RESOURCE_EXHAUSTED || code === GRPC.UNAVAILABLE || code === GRPC.INTERNAL || code === GRPC.DEADLINE_EXCEEDED) {
      throw new ProviderError('transient', `GRPC_${code}`, `element status ${code}: ${message}`);
    }
    throw new ProviderError('permanent', `GRPC_${code}`, `element status ${code}: ${message}`);
  }
  if (element.condition === 'ROUTE_NOT_FOUND') return { status: 'ZERO_RESULTS', distance_m: null, duration_s: null };
  if (element.condition !== 'ROUTE_EXISTS') throw new ProviderError('transient', 'BAD_RESPONSE', `unexpected condition ${JSON.stringify(element.condition)}`);
  return { status: 'OK', distance_m: element.distanceMeters ?? 0, duration_s: parseProtoDuration(element.duration) };
}

function routesHttpError(httpStatus: number, body: unknown): ProviderError {
  const error = (body as { error?: { message?: string; status?: string; details?: { reason?: string }[] } } | null)?.error;
  const message = `HTTP ${httpStatus} ${error?.status ?? ''}: ${error?.message ?? JSON.stringify(body)?.slice(0, 300)}`.trim();
  const keyInvalid = error?.details?.some((d) => d.reason === 'API_KEY_INVALID') || /API key not valid/i.test(error?.message ?? '');
  if (keyInvalid || httpStatus === 401 || httpStatus === 403) return new ProviderError('auth', keyInvalid ? 'API_KEY_INVALID' : `HTTP_${httpStatus}`, message);
  if (httpStatus === 429 || httpStatus === 408 || httpStatus >= 500) return new ProviderError('transient', `HTTP_${httpStatus}`, message);
  return new ProviderError('permanent', `HTTP_${httpStatus}`, message);
}

export class RoutesProvider implements DistanceProvider {
  readonly name = 'routes' as const;
  readonly provider = 'google' as const;

  /**
   * @param baseUrl GOOGLE_ROUTES_BASE_URL (https://routes.googleapis.com, or a local test server).
   * @param apiKey sent as X-Goog-Api-Key, never logged.
   * @param office destination, as coordinates (degrees).
   */
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly office: { lat: number; lon: number },
    private readonly timeoutMs: number,
  ) {}

  private get officeWaypoint(): Waypoint {
    return { location: { latLng: { latitude: this.office.lat, longitude: this.office.lon } } };
  }

  private async call(body: unknown): Promise<DistanceResult> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${ROUTES_MATRIX_PATH}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Goog-Api-Key': this.apiKey, 'X-Goog-FieldMask': ROUTES_FIELD_MASK },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ProviderError('transient', 'NETWORK', `computeRouteMatrix unreachable: ${(err as Error).message}`);
    }
    const text = await response.text().catch(() => '');
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      if (response.status === 200) throw new ProviderError('transient', 'BAD_RESPONSE', 'computeRouteMatrix answered 200 with a body that is not JSON');
    }
    return parseRoutesMatrix(response.status, parsed);
  }

  /** Office -> office by car: one element, proves the key and the API are enabled. */
  async probe(): Promise<void> {
    await this.call(routesMatrixBody(this.officeWaypoint, this.officeWaypoint, 'driving'));
  }

  async compute(request: DistanceRequest): Promise<DistanceResult> {
    return this.call(routesMatrixBody({ address: request.origin }, this.officeWaypoint, request.mode));
  }
}
