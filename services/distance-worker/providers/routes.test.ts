import { describe, expect, it } from 'vitest';
import { parseProtoDuration, parseRoutesMatrix, routesMatrixBody } from './routes.ts';
import { ProviderError } from './types.ts';

const office = { location: { latLng: { latitude: 43.567, longitude: 3.899 } } };

describe('routesMatrixBody', () => {
  it('builds a one-by-one matrix request in the Routes travel modes', () => {
    expect(routesMatrixBody({ address: '12 rue de la Loge, 34000 Montpellier, France' }, office, 'walking')).toEqual({
      origins: [{ waypoint: { address: '12 rue de la Loge, 34000 Montpellier, France' } }],
      destinations: [{ waypoint: office }],
      travelMode: 'WALK',
      languageCode: 'fr-FR',
      regionCode: 'FR',
    });
    expect(routesMatrixBody(office, office, 'bicycling').travelMode).toBe('BICYCLE');
    expect(routesMatrixBody(office, office, 'transit').travelMode).toBe('TRANSIT');
    expect(routesMatrixBody(office, office, 'driving')).toMatchObject({ travelMode: 'DRIVE', routingPreference: 'TRAFFIC_UNAWARE' });
  });
});

describe('parseRoutesMatrix', () => {
  it('reads distanceMeters and the duration of an existing route', () => {
    expect(parseRoutesMatrix(200, [{ status: {}, condition: 'ROUTE_EXISTS', distanceMeters: 5234, duration: '3761s' }])).toEqual({ status: 'OK', distance_m: 5234, duration_s: 3761 });
    // proto3 JSON omits zero values (indices, distance).
    expect(parseRoutesMatrix(200, [{ condition: 'ROUTE_EXISTS', duration: '0s' }])).toEqual({ status: 'OK', distance_m: 0, duration_s: 0 });
  });
  it('maps no route to ZERO_RESULTS and an unknown place to NOT_FOUND', () => {
    expect(parseRoutesMatrix(200, [{ originIndex: 0, destinationIndex: 0, status: {}, condition: 'ROUTE_NOT_FOUND' }])).toEqual({ status: 'ZERO_RESULTS', distance_m: null, duration_s: null });
    expect(parseRoutesMatrix(200, [{ status: { code: 5, message: 'Origin not found' } }])).toEqual({ status: 'NOT_FOUND', distance_m: null, duration_s: null });
    expect(parseRoutesMatrix(200, [{ status: { code: 3, message: 'Address could not be geocoded' } }])).toEqual({ status: 'NOT_FOUND', distance_m: null, duration_s: null });
  });
  it('classifies HTTP failures', () => {
    const kind = (status: number, body: unknown) => {
      try {
        parseRoutesMatrix(status, body);
      } catch (err) {
        return [(err as ProviderError).kind, (err as ProviderError).code];
      }
      return null;
    };
    expect(kind(400, { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }] } })).toEqual(['auth', 'API_KEY_INVALID']);
    expect(kind(403, { error: { code: 403, message: 'Routes API has not been used in project 1 before or it is disabled.', status: 'PERMISSION_DENIED' } })).toEqual(['auth', 'HTTP_403']);
    expect(kind(429, { error: { code: 429, status: 'RESOURCE_EXHAUSTED' } })).toEqual(['transient', 'HTTP_429']);
    expect(kind(503, null)).toEqual(['transient', 'HTTP_503']);
    expect(kind(400, { error: { code: 400, message: 'Invalid travel mode.', status: 'INVALID_ARGUMENT' } })).toEqual(['permanent', 'HTTP_400']);
    expect(kind(200, [{ status: { code: 14, message: 'unavailable' } }])).toEqual(['transient', 'GRPC_14']);
    expect(kind(200, [])).toEqual(['transient', 'BAD_RESPONSE']);
  });
});

describe('parseProtoDuration', () => {
  it('rounds protobuf durations to seconds', () => {
    expect(parseProtoDuration('160s')).toBe(160);
    expect(parseProtoDuration('3.5s')).toBe(4);
    expect(parseProtoDuration(undefined)).toBe(0);
    expect(() => parseProtoDuration('5 min')).toThrow(ProviderError);
  });
});
