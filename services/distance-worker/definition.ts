/**
 * The distance worker as the service runtime runs it (services/common/runtime.ts): `npm run
 * distance-worker` (main.ts). A rejected API key fails at start-up with a clear message (exit 1);
 * stops gracefully on SIGTERM/SIGINT (exit 0); a bad configuration exits 2, e.g.
 * DISTANCE_PROVIDER=routes without GOOGLE_MAPS_API_KEY.
 */
import type { ServiceDefinition } from '../common/runtime.ts';
import { SERVICE_NAME, startDistanceWorker } from './worker.ts';

export const distanceWorkerService: ServiceDefinition<'distance-worker'> = {
  name: SERVICE_NAME,
  config: 'distance-worker',
  healthListener: (config) => ({ host: config.distance.healthHost, port: config.distance.healthPort }),
  describe: (config) => ({ brokers: config.kafka.brokers, group: config.distance.consumerGroup, provider: config.distance.provider }),
  start: ({ config, logger, signal }) => startDistanceWorker(config, { logger, signal }),
};
