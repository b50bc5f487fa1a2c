/**
 * The monitor as the service runtime runs it (services/common/runtime.ts): `npm run monitor`
 * (main.ts). A graceful stop finishes the collection in flight, saves the alert state and closes
 * the server (exit 0); a fatal error, e.g. the port is taken, exits 1; a bad configuration 2.
 */
import type { ServiceDefinition } from '../common/runtime.ts';
import { Monitor } from './monitor.ts';
import { startServer } from './server.ts';

export const monitorService: ServiceDefinition<'monitor'> = {
  name: 'monitor',
  config: 'monitor',
  async start({ config, logger }) {
    const monitor = new Monitor(config, logger);
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer(monitor, logger, config.monitor.host, config.monitor.port);
    } catch (err) {
      await monitor.stop().catch(() => undefined);
      throw err;
    }
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
    try {
      await monitor.start();
    } catch (err) {
      await Promise.all([server.close(), monitor.stop()]).catch(() => undefined);
      throw err;
    }
    return {
      stop: async () => {
        await Promise.all([server.close(), monitor.stop()]);
      },
      // The monitor reports every failure as a status; it stops only when told.
      crashed: new Promise<Error>(() => undefined),
    };
  },
};
