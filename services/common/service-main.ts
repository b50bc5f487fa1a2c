/**
 * The `main` of a long-running consumer service (Slack notifier, distance worker): loads and
 * validates the configuration, starts the service, and stops it gracefully on SIGTERM/SIGINT
 * (the in-flight message finishes or stays uncommitted, then exit 0). A fatal error of the
 * running service (e.g. a revoked API key) stops it and exits 1 with one clear line; so does a
 * configuration error, before anything starts.
 */
import { runMain } from '../../scripts/lib/cli.ts';
import { loadConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';

/** What a consumer service's start function returns. */
export interface StartedService {
  /** Stops consuming, commits what is done, disconnects. Idempotent. */
  stop(): Promise<void>;
  /** Resolves with the error that stopped the service on its own; never rejects. */
  crashed: Promise<Error>;
}

export async function runConsumerService(name: string, start: (config: Config, logger: Logger) => Promise<StartedService>): Promise<void> {
  await runMain(name, async () => {
    const config = loadConfig();
    const logger = createLogger(name, config.logLevel);
    let stop: (() => Promise<void>) | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      if (!stop) process.exit(0); // not consuming yet: nothing to finish or commit
      void stop().then(() => process.exit(0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    const service = await start(config, logger);
    stop = service.stop;
    const fatal = await service.crashed;
    await service.stop();
    throw fatal;
  });
}
