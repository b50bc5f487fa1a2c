/**
 * The bronze writer as the service runtime runs it (services/common/runtime.ts): `npm run bronze`
 * (main.ts). Exit codes: 0 after a graceful stop that stored everything buffered; 1 when the
 * consumer failed for good or the shutdown timeout left rows unstored (their offsets stay
 * uncommitted, so a restart re-reads them: nothing is lost); 2 on a bad configuration (including a
 * lake bucket that does not exist or refuses access: services/common/lake-storage.ts verifyLake).
 */
import { LakeUnreachableError, openLake, verifyLake } from '../common/lake-storage.ts';
import { redactUrl } from '../common/logger.ts';
import type { ServiceDefinition } from '../common/runtime.ts';
import { BronzeWriter, SERVICE_NAME, type BronzeWriterHooks } from './writer.ts';

export const bronzeWriterService: ServiceDefinition<'bronze-writer', BronzeWriterHooks> = {
  name: SERVICE_NAME,
  config: 'bronze-writer',
  healthListener: (config) => ({ host: config.bronze.healthHost, port: config.bronze.healthPort }),
  describe: (config) => ({
    brokers: config.kafka.brokers,
    lake: redactUrl(config.lakeUrl),
    group: config.bronze.consumerGroup,
    topics: config.bronze.topics ?? `/${config.bronze.topicPattern.source}/`,
    maxRows: config.bronze.maxRows,
    maxBytes: config.bronze.maxBytes,
    maxAgeMs: config.bronze.maxAgeMs,
    maxBufferedBytes: config.bronze.maxBufferedBytes,
  }),
  async start({ config, logger, hooks, signal }) {
    // The lake at start-up (issue 14): a missing bucket or denied access is a configuration error
    // (exit 2, one line); an unreachable endpoint is said once, then ridden out like any outage.
    const lake = openLake(config);
    try {
      await verifyLake(lake, config);
    } catch (err) {
      if (!(err instanceof LakeUnreachableError)) {
        lake.close();
        throw err;
      }
      logger.warn({ lake: redactUrl(config.lakeUrl), reason: err.message }, 'lake unreachable at start-up: consuming anyway, nothing is committed until its segments are stored');
    }
    const writer = new BronzeWriter({ config, logger, hooks, lake });
    try {
      // A signal during start-up (e.g. the broker not reachable yet) stops at once.
      await Promise.race([writer.start(), new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
    } catch (err) {
      await writer.stop().catch(() => undefined);
      throw err;
    }
    return { stop: async () => (await writer.stop()).complete, crashed: writer.crashed, health: () => writer.health() };
  },
};
