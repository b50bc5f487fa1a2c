/** Configuration of the distance worker (services/distance-worker/README.md). */
import { z } from 'zod';
import { defineBlock, variable } from './define.ts';
import { failIf, httpListenerVariables, nonEmpty } from './shared.ts';

/** The worker's consumer group (the monitor and the status watch it). */
export const distanceGroupBlock = defineBlock({
  title: 'Distance worker: consumer group',
  fields: {
    distance: { consumerGroup: variable('DISTANCE_CONSUMER_GROUP', nonEmpty.default('distance-worker'), 'Consumer group of the distance worker.') },
  },
});

const trimSlashes = (u: string) => u.replace(/\/+$/, '');

const DISTANCE_HEALTH = httpListenerVariables('DISTANCE_HEALTH', 9467, "the distance worker's /healthz and /metrics");

export const distanceBlock = defineBlock({
  title: 'Distance worker (`npm run distance-worker`)',
  fields: {
    distance: {
      healthHost: DISTANCE_HEALTH.host,
      healthPort: DISTANCE_HEALTH.port,
      apiKey: variable('GOOGLE_MAPS_API_KEY', z.string().trim().min(1).optional(), 'Google Maps Platform key; unset = offline estimates (provider "offline").', { secret: true }),
      provider: variable('DISTANCE_PROVIDER', z.enum(['routes', 'distance-matrix', 'offline']).optional(), 'routes (default with a key) | distance-matrix (legacy) | offline (default without a key).'),
      routesBaseUrl: variable('GOOGLE_ROUTES_BASE_URL', z.url().default('https://routes.googleapis.com').transform(trimSlashes), 'Routes API base URL (tests point it at a local server).'),
      mapsBaseUrl: variable('GOOGLE_MAPS_BASE_URL', z.url().default('https://maps.googleapis.com').transform(trimSlashes), 'Distance Matrix API base URL (tests point it at a local server).'),
      otherModes: variable('DISTANCE_OTHER_MODES', z.enum(['compute', 'skip']).default('compute'), 'Transit/car commuters: compute (transit/driving) | skip (no row).'),
      detourFactor: variable('DISTANCE_DETOUR_FACTOR', z.coerce.number().min(1).max(3).default(1.3), 'Offline estimate = great-circle distance x this factor.'),
      cacheTtlDays: variable('DISTANCE_CACHE_TTL_DAYS', z.coerce.number().min(0).default(30), 'Days a Google result for the same address is reused.'),
      timeoutMs: variable('DISTANCE_TIMEOUT_MS', z.coerce.number().int().min(100).default(10_000), 'Milliseconds per provider request.'),
      retryMinMs: variable('DISTANCE_RETRY_MIN_MS', z.coerce.number().int().min(1).default(1_000), 'First backoff of OVER_QUERY_LIMIT / 5xx / network retries, milliseconds (doubles up to DISTANCE_RETRY_MAX_MS).'),
      retryMaxMs: variable('DISTANCE_RETRY_MAX_MS', z.coerce.number().int().min(1).default(300_000), 'Longest backoff, milliseconds.'),
      maxRequestsPerSecond: variable('DISTANCE_MAX_REQUESTS_PER_SECOND', z.coerce.number().positive().default(10), 'Provider requests per second at most.'),
      office: {
        address: variable('OFFICE_ADDRESS', nonEmpty.default('1362 Av. des Platanes, 34970 Lattes, France'), 'Office address (commute destination).'),
        lat: variable('OFFICE_LAT', z.coerce.number().min(-90).max(90).default(43.567), 'Office latitude (offline estimates).'),
        lon: variable('OFFICE_LON', z.coerce.number().min(-180).max(180).default(3.899), 'Office longitude (offline estimates).'),
      },
    },
  },
  finish: (c) => {
    const d = c.distance;
    failIf([
      d.provider !== undefined && d.provider !== 'offline' && !d.apiKey && `GOOGLE_MAPS_API_KEY: required when DISTANCE_PROVIDER=${d.provider} (unset DISTANCE_PROVIDER for offline estimates)`,
      d.retryMinMs > d.retryMaxMs && 'DISTANCE_RETRY_MIN_MS: must not exceed DISTANCE_RETRY_MAX_MS',
    ]);
    /** "routes" by default with a key, "offline" without one. */
    const provider: 'routes' | 'distance-matrix' | 'offline' = d.provider ?? (d.apiKey ? 'routes' : 'offline');
    return { distance: { ...d, provider } };
  },
});
