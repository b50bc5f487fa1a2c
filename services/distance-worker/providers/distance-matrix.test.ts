import { describe, expect, it } from 'vitest';
import { distanceMatrixFailure, parseDistanceMatrix } from './distance-matrix.ts';
import { ProviderError } from './types.ts';

const answer = (element: object) => ({ status: 'OK', origin_addresses: ['12 Rue de la Loge, 34000 Montpellier, France'], destination_addresses: ['Lattes'], rows: [{ elements: [element] }] });

describe('parseDistanceMatrix', () => {
  it('reads distance.value (metres) and duration.value (seconds)', () => {
    expect(parseDistanceMatrix(answer({ status: 'OK', distance: { text: '5,2 km', value: 5234 }, duration: { text: '1 heure 3 min', value: 3761 } }))).toEqual({ status: 'OK', distance_m: 5234, duration_s: 3761 });
  });
  it('keeps NOT_FOUND and ZERO_RESULTS as statuses', () => {
    expect(parseDistanceMatrix(answer({ status: 'NOT_FOUND' }))).toEqual({ status: 'NOT_FOUND', distance_m: null, duration_s: null });
    expect(parseDistanceMatrix(answer({ status: 'ZERO_RESULTS' }))).toEqual({ status: 'ZERO_RESULTS', distance_m: null, duration_s: null });
    expect(parseDistanceMatrix(answer({ status: 'MAX_ROUTE_LENGTH_EXCEEDED' }))).toEqual({ status: 'ZERO_RESULTS', distance_m: null, duration_s: null });
  });
  it('classifies top-level statuses', () => {
    const kind = (status: string) => {
      try {
        parseDistanceMatrix({ status, error_message: 'x', rows: [] } as never);
      } catch (err) {
        return (err as ProviderError).kind;
      }
      return null;
    };
    expect(kind('OVER_QUERY_LIMIT')).toBe('transient');
    expect(kind('UNKNOWN_ERROR')).toBe('transient');
    expect(kind('REQUEST_DENIED')).toBe('auth');
    expect(kind('INVALID_REQUEST')).toBe('permanent');
    expect(kind('MAX_ELEMENTS_EXCEEDED')).toBe('permanent');
  });
});

describe('distanceMatrixFailure', () => {
  it('reads the JSON status of a rejected axios request, else the HTTP status', () => {
    expect(distanceMatrixFailure({ response: { status: 403, data: { status: 'REQUEST_DENIED', error_message: 'The provided API key is invalid.' } } })).toMatchObject({ kind: 'auth', code: 'REQUEST_DENIED', message: 'REQUEST_DENIED: The provided API key is invalid.' });
    expect(distanceMatrixFailure({ response: { status: 429, data: { status: 'OVER_QUERY_LIMIT' } } })).toMatchObject({ kind: 'transient', code: 'OVER_QUERY_LIMIT' });
    expect(distanceMatrixFailure({ response: { status: 502, data: '<html>' } })).toMatchObject({ kind: 'transient', code: 'HTTP_502' });
    expect(distanceMatrixFailure({ message: 'socket hang up', code: 'ECONNRESET' })).toMatchObject({ kind: 'transient', code: 'NETWORK' });
    expect(distanceMatrixFailure(new ProviderError('permanent', 'X', 'y'))).toMatchObject({ kind: 'permanent', code: 'X' });
  });
});
