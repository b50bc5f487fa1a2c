/**
 * A local HTTP server speaking the two Google APIs the distance worker uses, in their documented
 * formats, so the real clients can be pointed at it:
 *
 * - Distance Matrix (legacy): GET /maps/api/distancematrix/json?origins=…&destinations=…&mode=…&key=…
 *   -> `{ status, origin_addresses, destination_addresses, rows: [{ elements: [{ status,
 *   distance: { text, value (metres) }, duration: { text, value (seconds) } }] }] }`; errors as a
 *   top-level status with HTTP 200 (REQUEST_DENIED, OVER_QUERY_LIMIT, UNKNOWN_ERROR), as Google does.
 * - Routes: POST /distanceMatrix/v2:computeRouteMatrix with X-Goog-Api-Key and X-Goog-FieldMask
 *   -> JSON array of `{ originIndex, destinationIndex, status, condition, distanceMeters, duration }`
 *   (zero values omitted, as proto3 JSON does); errors as `{ error: { code, message, status, details } }`.
 *
 * Each origin address is looked up in `places` (keyed by the exact origin string); unknown
 * addresses are NOT_FOUND. Coordinates (the worker's probe) get a zero-length route.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type PlaceAnswer = { distance_m: number; duration_s: number } | 'NOT_FOUND' | 'ZERO_RESULTS';

/** A failure served instead of the next answer. */
export type ScriptedFailure = 'OVER_QUERY_LIMIT' | 'SERVER_ERROR' | 'HANG_UP';

export interface MapsRequest {
  api: 'distance-matrix' | 'routes';
  origin: string;
  mode: string;
  key: string;
  fieldMask?: string;
}

export interface FakeGoogleMaps {
  baseUrl: string;
  validKey: string;
  places: Map<string, PlaceAnswer>;
  script: ScriptedFailure[];
  requests: MapsRequest[];
  /** Requests other than the start-up probe (origin given as coordinates). */
  lookups(): MapsRequest[];
  close(): Promise<void>;
}

const COORDINATES = /^-?\d+(\.\d+)?,-?\d+(\.\d+)?$/;

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

export async function startFakeGoogleMaps(validKey = 'test-maps-key'): Promise<FakeGoogleMaps> {
  const places = new Map<string, PlaceAnswer>();
  const script: ScriptedFailure[] = [];
  const requests: MapsRequest[] = [];
  const answerFor = (origin: string): PlaceAnswer => (COORDINATES.test(origin) ? { distance_m: 0, duration_s: 0 } : (places.get(origin) ?? 'NOT_FOUND'));

  const distanceMatrix = (url: URL, res: http.ServerResponse) => {
    const origin = url.searchParams.get('origins') ?? '';
    const key = url.searchParams.get('key') ?? '';
    requests.push({ api: 'distance-matrix', origin, mode: url.searchParams.get('mode') ?? 'driving', key });
    if (key !== validKey) return json(res, 200, { status: 'REQUEST_DENIED', error_message: 'The provided API key is invalid. ', rows: [], origin_addresses: [], destination_addresses: [] });
    if (!url.searchParams.get('destinations') || !origin) return json(res, 200, { status: 'INVALID_REQUEST', error_message: 'origins and destinations are required', rows: [] });
    const failure = script.shift();
    if (failure === 'HANG_UP') return res.socket?.destroy();
    if (failure === 'OVER_QUERY_LIMIT') return json(res, 200, { status: 'OVER_QUERY_LIMIT', error_message: 'You have exceeded your rate-limit for this API.', rows: [] });
    if (failure === 'SERVER_ERROR') return json(res, 200, { status: 'UNKNOWN_ERROR', rows: [] });
    const answer = answerFor(origin);
    const element =
      typeof answer === 'string'
        ? { status: answer }
        : { status: 'OK', distance: { text: `${(answer.distance_m / 1000).toFixed(1).replace('.', ',')} km`, value: answer.distance_m }, duration: { text: `${Math.round(answer.duration_s / 60)} minutes`, value: answer.duration_s } };
    json(res, 200, { status: 'OK', origin_addresses: [typeof answer === 'string' ? '' : origin], destination_addresses: ['1362 Av. des Platanes, 34970 Lattes, France'], rows: [{ elements: [element] }] });
  };

  const routes = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => {
    const key = String(req.headers['x-goog-api-key'] ?? '');
    const fieldMask = String(req.headers['x-goog-field-mask'] ?? req.headers['x-goog-fieldmask'] ?? '');
    let parsed: { origins?: { waypoint?: { address?: string; location?: { latLng?: { latitude: number; longitude: number } } } }[]; destinations?: unknown[]; travelMode?: string };
    try {
      parsed = JSON.parse(body);
    } catch {
      return json(res, 400, { error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } });
    }
    const waypoint = parsed.origins?.[0]?.waypoint;
    const origin = waypoint?.address ?? (waypoint?.location?.latLng ? `${waypoint.location.latLng.latitude},${waypoint.location.latLng.longitude}` : '');
    requests.push({ api: 'routes', origin, mode: parsed.travelMode ?? 'DRIVE', key, fieldMask });
    if (key !== validKey) {
      return json(res, 400, {
        error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] },
      });
    }
    if (!fieldMask) return json(res, 400, { error: { code: 400, message: 'FieldMask is a required parameter.', status: 'INVALID_ARGUMENT' } });
    if (!parsed.destinations?.length || !origin) return json(res, 400, { error: { code: 400, message: 'Origin and destination must be set.', status: 'INVALID_ARGUMENT' } });
    const failure = script.shift();
    if (failure === 'HANG_UP') return res.socket?.destroy();
    if (failure === 'OVER_QUERY_LIMIT') return json(res, 429, { error: { code: 429, message: 'Quota exceeded for quota metric.', status: 'RESOURCE_EXHAUSTED' } });
    if (failure === 'SERVER_ERROR') return json(res, 500, { error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } });
    const answer = answerFor(origin);
    // proto3 JSON: zero-valued fields (indices, a 0 m distance) are omitted.
    if (answer === 'NOT_FOUND') return json(res, 200, [{ status: { code: 5, message: `Origin "${origin}" could not be found.` } }]);
    if (answer === 'ZERO_RESULTS') return json(res, 200, [{ status: {}, condition: 'ROUTE_NOT_FOUND' }]);
    return json(res, 200, [{ status: {}, condition: 'ROUTE_EXISTS', ...(answer.distance_m ? { distanceMeters: answer.distance_m } : {}), duration: `${answer.duration_s}s` }]);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET' && url.pathname === '/maps/api/distancematrix/json') return distanceMatrix(url, res);
      if (req.method === 'POST' && url.pathname === '/distanceMatrix/v2:computeRouteMatrix') return routes(req, Buffer.concat(chunks).toString('utf8'), res);
      json(res, 404, { error: { code: 404, message: `no route for ${req.method} ${url.pathname}`, status: 'NOT_FOUND' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    validKey,
    places,
    script,
    requests,
    lookups: () => requests.filter((r) => !COORDINATES.test(r.origin)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
