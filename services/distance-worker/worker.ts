/**
 * The distance worker: a consumer group on `<prefix>.public.employees` that keeps one
 * home -> office `commute_distances` row per employee (README.md in this folder).
 *
 * Per message, in partition order: decide (decide.ts) -> for a new employee or a changed
 * address / commute mode: read the employee's current home fields from PostgreSQL (so a replay
 * of old events converges to the current address) -> look the normalised address up in the
 * cache, else ask the provider
 * (paced; OVER_QUERY_LIMIT, 5xx and network errors retried with backoff, forever) -> upsert the
 * row (CDC captures it) -> the ordered consumer commits the offset. NOT_FOUND / ZERO_RESULTS are
 * rows with that status. A bad key stops the worker (at start-up: the probe); a request Google
 * calls invalid for this employee is dead-lettered.
 */
import pg from 'pg';
import pRetry, { AbortError } from 'p-retry';
import { pgConnection, type DistanceWorkerConfig } from '../common/config.ts';
import { checkChangeMessage } from '../common/contracts/change-event.ts';
import { connectDeadLetterProducer } from '../common/dead-letter.ts';
import type { Logger } from '../common/logger.ts';
import { FatalConsumerError, ShutdownError, startConsumerWithResources, startOrderedConsumer, type ConsumedMessage, type HandleResult, type HandlerContext } from '../common/ordered-consumer.ts';
import { TokenBucket } from '../common/token-bucket.ts';
import { normaliseAddress, originAddress, travelModeFor } from './commute.ts';
import { decideEmployeeMessage } from './decide.ts';
import { DistanceMatrixProvider } from './providers/distance-matrix.ts';
import { OfflineProvider } from './providers/offline.ts';
import { RoutesProvider } from './providers/routes.ts';
import { ProviderError, type DistanceProvider, type DistanceRequest, type DistanceResult } from './providers/types.ts';
import { CommuteStore } from './store.ts';

export const SERVICE_NAME = 'distance-worker';

/** Topic of the employees change events (docs/contracts/change-events.md). */
export function employeesTopic(config: DistanceWorkerConfig): string {
  return `${config.kafka.topicPrefix}.public.employees`;
}

/** The key columns of public.employees (its primary key, by which the CDC keys its events). */
export const EMPLOYEE_KEY = ['employee_id'] as const;

/** The provider configuration selects (DISTANCE_PROVIDER, GOOGLE_MAPS_API_KEY). */
export function providerFromConfig(config: DistanceWorkerConfig): DistanceProvider {
  const d = config.distance;
  if (d.provider === 'offline' || !d.apiKey) return new OfflineProvider(d.office, d.detourFactor);
  if (d.provider === 'distance-matrix') return new DistanceMatrixProvider(d.mapsBaseUrl, d.apiKey, d.office, d.timeoutMs);
  return new RoutesProvider(d.routesBaseUrl, d.apiKey, d.office, d.timeoutMs);
}

/** Thrown at start-up when the provider rejects the key or stays unreachable. */
export class ProviderStartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderStartupError';
  }
}

function backoffMs(retry: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(retry, 30));
}

/**
 * One probe request before consuming anything, so a bad key fails at start-up with a clear
 * message instead of on the first employee.
 * @throws ProviderStartupError naming GOOGLE_MAPS_API_KEY (rejected key) or the unreachable API.
 */
export async function probeProvider(provider: DistanceProvider, config: DistanceWorkerConfig, logger: Logger, attempts = 4): Promise<void> {
  const api = provider.name === 'routes' ? 'Routes API (computeRouteMatrix)' : 'Distance Matrix API';
  for (let attempt = 1; ; attempt++) {
    try {
      await provider.probe();
      return;
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      if (err.kind === 'auth') {
        throw new ProviderStartupError(`GOOGLE_MAPS_API_KEY was rejected by the ${api} (${err.code}): ${err.message.replace(/[.\s]+$/, "")}. Check the key, its API restrictions and that the API is enabled in the Cloud project, or unset GOOGLE_MAPS_API_KEY to run offline.`);
      }
      if (err.kind === 'permanent' || attempt >= attempts) {
        throw new ProviderStartupError(`the ${api} probe failed after ${attempt} attempt(s) (${err.code}): ${err.message}`);
      }
      const delay = backoffMs(attempt - 1, config.distance.retryMinMs, config.distance.retryMaxMs);
      logger.warn({ attempt, delayMs: delay, code: err.code }, 'provider probe failed; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export interface WorkerStats {
  requests: number;
  cacheHits: number;
  written: number;
  unchanged: number;
  removed: number;
  skipped: number;
  deadLettered: number;
  retries: number;
}

export interface RunningWorker {
  stats: WorkerStats;
  provider: DistanceProvider;
  stop(): Promise<void>;
  crashed: Promise<Error>;
  /** Unhealthy while messages cannot be handled or read (a server outage), with the cause. */
  health(): { healthy: boolean; detail: string };
}

export interface WorkerOptions {
  logger: Logger;
  /** Overrides the provider chosen from config (tests). */
  provider?: DistanceProvider;  /** The runtime's stop signal: a stop during start-up (waiting for the topic or the group) ends the start. */
  signal?: AbortSignal;
}

/**
 * Probes the provider, then starts consuming.
 * @throws ProviderStartupError (bad key, unreachable API), Kafka/PostgreSQL connection errors.
 */
export async function startDistanceWorker(config: DistanceWorkerConfig, options: WorkerOptions): Promise<RunningWorker> {
  const { logger } = options;
  const topic = employeesTopic(config);
  const provider = options.provider ?? providerFromConfig(config);
  const stats: WorkerStats = { requests: 0, cacheHits: 0, written: 0, unchanged: 0, removed: 0, skipped: 0, deadLettered: 0, retries: 0 };
  logger.info({ topic, group: config.distance.consumerGroup, provider: provider.name, otherModes: config.distance.otherModes }, provider.name === 'offline' ? 'starting with offline estimates (no GOOGLE_MAPS_API_KEY)' : 'starting');

  await probeProvider(provider, config, logger);

  const pool = new pg.Pool({ ...pgConnection(config, 'distance'), max: 2, application_name: SERVICE_NAME });
  // A dropped idle connection (a database restart) is reported by the query that next needs one:
  // the consumer's one outage warning, not a line per connection.
  pool.on('error', (err) => logger.debug({ err }, 'idle PostgreSQL connection closed'));
  await pool.query('SELECT 1 FROM commute_distance_cache LIMIT 0');
  const store = new CommuteStore(pool);

  const { producer, deadLetters } = await connectDeadLetterProducer(config, SERVICE_NAME, topic, logger, options.signal);
  const bucket = new TokenBucket(config.distance.maxRequestsPerSecond, 1);

  /** Asks the provider, paced, retrying transient failures forever. */
  async function request(req: DistanceRequest, employeeId: number, ctx: HandlerContext): Promise<DistanceResult> {
    return pRetry(
      async () => {
        await ctx.sleep(bucket.waitMs());
        bucket.take();
        try {
          return await provider.compute(req);
        } catch (err) {
          if (err instanceof ProviderError && err.kind === 'auth') throw new AbortError(new FatalConsumerError(`GOOGLE_MAPS_API_KEY rejected (${err.code}): ${err.message}`));
          if (err instanceof ProviderError && err.kind === 'permanent') throw new AbortError(err);
          throw err;
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: 0, // waits happen in onFailedAttempt, which heartbeats and stops on shutdown
        onFailedAttempt: async ({ error, retriesConsumed }) => {
          if (error instanceof ShutdownError) throw error;
          stats.retries += 1;
          const delay = backoffMs(retriesConsumed, config.distance.retryMinMs, config.distance.retryMaxMs);
          logger.warn({ employeeId, attempt: retriesConsumed + 1, delayMs: delay, code: error instanceof ProviderError ? error.code : undefined, detail: error.message }, 'distance request failed; retrying');
          await ctx.sleep(delay);
        },
      },
    );
  }

  async function handle(message: ConsumedMessage, ctx: HandlerContext): Promise<HandleResult> {
    // The envelope checks every consumer shares (key, empty value, envelope), before any decision.
    const checked = checkChangeMessage(message, EMPLOYEE_KEY);
    const decision = checked.kind === 'dead-letter' ? checked : decideEmployeeMessage(message.value, config.distance.otherModes);
    const where = { partition: message.partition, offset: message.offset };
    switch (decision.kind) {
      case 'skip':
        stats.skipped += 1;
        logger.debug({ ...where, reason: decision.reason }, 'nothing to compute');
        return 'no-op';
      case 'dead-letter':
        await deadLetters.publish(message, decision.reason, decision.detail);
        stats.deadLettered += 1;
        logger.warn({ ...where, reason: decision.reason, detail: decision.detail }, 'dead-lettered');
        return;
      case 'remove':
      case 'compute':
        break;
    }
    // The event is the trigger; the employee's current state is the input, so a replay of old
    // events converges to today's address and mode instead of replaying past ones into
    // commute_distances (which CDC would capture).
    const employeeId = decision.kind === 'remove' ? decision.employeeId : decision.employee.employee_id;
    const employee = await store.currentHome(employeeId);
    if (employee === null) {
      stats.skipped += 1;
      logger.info({ ...where, employeeId }, 'employee deleted meanwhile: nothing to compute');
      return 'no-op';
    }
    const mode = travelModeFor(employee.commute_mode, config.distance.otherModes);
    if (mode === undefined) {
      const detail = `employees.commute_mode ${JSON.stringify(employee.commute_mode)} of employee ${employeeId} is not one of the HR values`;
      await deadLetters.publish(message, 'unknown_commute_mode', detail);
      stats.deadLettered += 1;
      logger.warn({ ...where, employeeId, reason: 'unknown_commute_mode' }, 'dead-lettered');
      return;
    }
    if (mode === null) {
      if (await store.remove(employeeId)) stats.removed += 1;
      logger.info({ ...where, employeeId }, 'commute mode not computed (DISTANCE_OTHER_MODES=skip): no row');
      return;
    }
    const origin = originAddress(employee);
    const addressKey = normaliseAddress(origin);
    const req: DistanceRequest = { origin, mode, originPoint: employee.home_lat !== null && employee.home_lon !== null ? { lat: employee.home_lat, lon: employee.home_lon } : null };

    let result: DistanceResult;
    if (provider.provider === 'offline') {
      result = await provider.compute(req);
    } else {
      const hit = await store.cached(addressKey, mode, config.distance.cacheTtlDays);
      if (hit) {
        stats.cacheHits += 1;
        result = hit;
      } else {
        try {
          result = await request(req, employee.employee_id, ctx);
        } catch (err) {
          if (err instanceof ProviderError && err.kind === 'permanent') {
            await deadLetters.publish(message, `google_${err.code.toLowerCase()}`, err.message);
            stats.deadLettered += 1;
            logger.error({ ...where, employeeId: employee.employee_id, code: err.code, detail: err.message }, 'Google refused the request: dead-lettered');
            return;
          }
          throw err;
        }
        stats.requests += 1;
        await store.putCache(addressKey, mode, provider.name as 'routes' | 'distance-matrix', result);
      }
    }

    const outcome = await store.save({
      employee_id: employee.employee_id,
      origin_address: origin,
      destination_address: config.distance.office.address,
      travel_mode: mode,
      distance_m: result.distance_m,
      duration_s: result.duration_s,
      provider: provider.provider,
      status: result.status,
    });
    if (outcome === 'written') stats.written += 1;
    if (outcome === 'unchanged') stats.unchanged += 1;
    // Logged without the address: ids, mode and figures only.
    const fields = { ...where, employeeId: employee.employee_id, mode, status: result.status, distanceM: result.distance_m, durationS: result.duration_s, outcome };
    if (outcome === 'written') {
      logger.info(fields, 'commute distance written');
      return;
    }
    logger.debug(fields, outcome === 'employee_gone' ? 'employee deleted meanwhile: no row' : 'commute distance unchanged');
    return 'no-op';
  }

  const { stop, crashed, consumer } = await startConsumerWithResources(
    () => startOrderedConsumer({ config, service: SERVICE_NAME, groupId: config.distance.consumerGroup, topic, logger, handle, signal: options.signal }),
    async () => {
      await producer.close();
      await pool.end();
    },
    () => logger.info({ ...stats }, 'stopped'),
  );
  return { stats, provider, stop, crashed, health: () => consumer.health() };
}
