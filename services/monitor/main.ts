/**
 * `npm run monitor`: metrics, health, quality API, alerts and the dashboard
 * (services/monitor/README.md).
 *
 * Exit codes: 0 after a graceful stop (SIGTERM/SIGINT: finish the collection in flight, save the
 * alert state, close the server), 1 on a fatal error (e.g. the port is taken), 2 on a bad
 * configuration (reported before anything starts).
 */
import { loadConfigOrExit } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { Monitor } from './monitor.ts';
import { startServer } from './server.ts';

const config = loadConfigOrExit('monitor');

const logger = createLogger('monitor', config.logLevel);
const monitor = new Monitor(config, logger);
try {
  const server = await startServer(monitor, logger, config.monitor.host, config.monitor.port);
  const base = `http://${config.monitor.host}:${server.port}`;
  logger.info(
    {
      dashboard: `${base}/`,
      metrics: `${base}/metrics`,
      healthz: `${base}/healthz`,
      quality: `${base}/api/quality`,
      intervalS: config.monitor.intervalMs / 1000,
      services: config.monitor.services,
      cdcMetricsUrl: config.monitor.cdcMetricsUrl,
      alertSink: monitor.sink.description,
      goldDb: config.batch.goldDb,
    },
    'monitor listening',
  );
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'signal received');
      void Promise.all([server.close(), monitor.stop()]).then(
        () => {
          logger.info('monitor stopped');
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
  await monitor.start();
} catch (err) {
  logger.fatal({ err }, 'monitor failed');
  await monitor.stop().catch(() => undefined);
  process.exit(1);
}
