/**
 * `npm run cdc`: PostgreSQL logical replication into Kafka (services/cdc/README.md).
 *
 * Exit codes: 0 after a graceful stop (SIGTERM/SIGINT: flush, confirm, exit), 1 on a fatal
 * runtime error (the slot keeps the last confirmed LSN, so a restart resumes there), 2 on a bad
 * configuration (reported before any connection opens). PostgreSQL and broker outages are not
 * fatal: the service reconnects by itself (service.ts). Should anything still escape (an
 * uncaught exception or unhandled rejection), it is one `fatal` log line with the cause, exit 1.
 */
import { loadConfigOrExit } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { CdcService } from './service.ts';

const config = loadConfigOrExit('cdc');

const logger = createLogger('cdc', config.logLevel);
logger.info(
  {
    tables: config.cdc.tables.map((t) => `${t.schema}.${t.table}`),
    slot: config.cdc.slotName,
    publication: config.postgres.publication,
    postgres: `${config.postgres.host}:${config.postgres.port}/${config.postgres.database}`,
    brokers: config.kafka.brokers,
    topicPrefix: config.kafka.topicPrefix,
  },
  'cdc starting',
);

for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    logger.fatal({ err, event }, 'cdc crashed');
    process.exit(1);
  });
}

const service = new CdcService(config, logger);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    logger.info({ signal }, 'signal received');
    service.stop();
  });
}

try {
  await service.run();
  logger.info('cdc stopped');
  process.exit(0);
} catch (err) {
  logger.fatal({ err }, 'cdc failed');
  process.exit(1);
}
