/**
 * The CDC service as the service runtime runs it (services/common/runtime.ts): `npm run cdc`
 * (main.ts). Exit codes: 0 after a graceful stop (SIGTERM/SIGINT: flush, confirm, exit), 1 on a
 * fatal runtime error (the slot keeps the last confirmed LSN, so a restart resumes there), 2 on a
 * bad configuration (reported before any connection opens).
 */
import type { ServiceDefinition } from '../common/runtime.ts';
import { CdcService } from './service.ts';

export const cdcService: ServiceDefinition<'cdc'> = {
  name: 'cdc',
  config: 'cdc',
  describe: (config) => ({
    tables: config.cdc.tables.map((t) => `${t.schema}.${t.table}`),
    slot: config.cdc.slotName,
    publication: config.postgres.publication,
    postgres: `${config.postgres.host}:${config.postgres.port}/${config.postgres.database}`,
    brokers: config.kafka.brokers,
    topicPrefix: config.kafka.topicPrefix,
  }),
  async start({ config, logger }) {
    const service = new CdcService(config, logger);
    const done = service.run();
    return {
      stop: async () => {
        service.stop();
        await done.catch(() => undefined);
      },
      crashed: done.then(
        () => new Promise<Error>(() => undefined),
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
      finished: done.then(
        () => 0,
        () => new Promise<number>(() => undefined),
      ),
    };
  },
};
