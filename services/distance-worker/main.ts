/**
 * `npm run distance-worker`: keeps each employee's home -> office commute distance in
 * `commute_distances` (Google Routes / Distance Matrix with GOOGLE_MAPS_API_KEY, offline
 * estimates without), under the service runtime (services/common/runtime.ts): exit 0 after a
 * graceful stop, 1 on a runtime failure (e.g. a rejected key), 2 on a bad configuration.
 */
import { runService } from '../common/runtime.ts';
import { distanceWorkerService } from './definition.ts';

await runService(distanceWorkerService);
