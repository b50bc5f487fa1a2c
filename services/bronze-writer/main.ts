/**
 * `npm run bronze`: runs the bronze writer until SIGTERM/SIGINT (see writer.ts and README.md).
 *
 * Exit codes: 0 after a graceful stop that stored everything buffered; 1 when the configuration
 * is invalid, the consumer failed for good, or the shutdown timeout left rows unstored (their
 * offsets stay uncommitted, so a restart re-reads them: nothing is lost).
 */
import { loadConfigOrExit } from '../common/config.ts';
import { createLogger, redactUrl } from '../common/logger.ts';
import { BronzeWriter, SERVICE_NAME } from './writer.ts';

async function main(): Promise<number> {
  // A bad configuration exits 1, as before (the writer's exit codes: 0 stopped, 1 failed).
  const config = loadConfigOrExit(SERVICE_NAME, 1);
  const logger = createLogger(SERVICE_NAME, config.logLevel);
  const { bronze } = config;
  logger.info(
    {
      brokers: config.kafka.brokers,
      lake: redactUrl(config.lakeUrl),
      group: bronze.consumerGroup,
      topics: bronze.topics ?? `/${bronze.topicPattern.source}/`,
      maxRows: bronze.maxRows,
      maxBytes: bronze.maxBytes,
      maxAgeMs: bronze.maxAgeMs,
      maxBufferedBytes: bronze.maxBufferedBytes,
    },
    'starting',
  );
  const writer = new BronzeWriter({ config, logger });
  let signalled: string | undefined;
  const stopped = new Promise<string>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        signalled = signal;
        resolve(signal);
      });
    }
  });
  try {
    await Promise.race([writer.start(), stopped]);
  } catch (err) {
    logger.error({ err }, 'start-up failed');
    await writer.stop().catch(() => undefined);
    return 1;
  }
  const reason = await Promise.race([stopped, writer.crashed.then((err) => `crash: ${err.message}`)]);
  logger.info({ reason }, 'stopping');
  const result = await writer.stop();
  return signalled && result.complete ? 0 : 1;
}

// The Kafka client and the AWS SDK may keep sockets open for a while; the work is done at this point.
process.exit(await main());
