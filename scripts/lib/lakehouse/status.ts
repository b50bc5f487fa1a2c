/**
 * `lakehouse status [--json]`: consumer lag per group, replication slot lag, dead letters, last
 * refresh and quality, read from the systems themselves (services/common/status/), so
 * it works while the services are down. A part that cannot be read is shown with its error and
 * makes the exit code 1; everything read: 0.
 */
import type { Command } from 'commander';
import pRetry from 'p-retry';
import type { Config } from '../../../services/common/config.ts';
import { formatPipelineStatus } from '../../../services/common/status/format.ts';
import { readPipelineStatus, type PipelineStatus } from '../../../services/common/status/pipeline-status.ts';
import { connectableKafkaAdmin } from './connections.ts';
import { EXIT_OK, EXIT_RUNTIME } from './errors.ts';
import type { CommandContext } from './program.ts';

/**
 * Kafka's answers while a group coordinator is not ready yet (a broker that has just started is
 * still loading `__consumer_offsets`): kafkajs' messages for COORDINATOR_LOAD_IN_PROGRESS,
 * COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR, all retriable per the Kafka protocol. kafkajs'
 * admin does not retry them in fetchOffsets, so the status reads again.
 */
export const COORDINATOR_NOT_READY = /coordinator is loading|coordinator is not available|not the correct coordinator/i;

/** Raised to make p-retry read again; carries the status read. */
class CoordinatorNotReady extends Error {
  constructor(readonly status: PipelineStatus) {
    super(status.kafka.error ?? '');
  }
}

/** Reads the status; re-reads (up to 4 times over about 4 s) while Kafka's group coordinator is not ready. */
async function readStatus(config: Config): Promise<PipelineStatus> {
  const read = () =>
    readPipelineStatus(config, async () => connectableKafkaAdmin(config, 'status'));
  try {
    return await pRetry(
      async () => {
        const status = await read();
        if (status.kafka.error && COORDINATOR_NOT_READY.test(status.kafka.error)) throw new CoordinatorNotReady(status);
        return status;
      },
      { retries: 4, minTimeout: 250, factor: 2, shouldRetry: ({ error }) => error instanceof CoordinatorNotReady },
    );
  } catch (err) {
    if (err instanceof CoordinatorNotReady) return err.status;
    throw err;
  }
}

/** Whether every part of the status was read (pure). */
export function statusComplete(status: PipelineStatus): boolean {
  return status.kafka.error === null && !('error' in status.replicationSlot) && !('error' in status.batch);
}

export function registerStatus(program: Command, ctx: CommandContext): void {
  program
    .command('status')
    .description('consumer lag per group, replication slot lag, dead letters, last refresh and quality')
    .option('--json', 'print the status as JSON (for scripts)')
    .addHelpText('after', '\nExit code 0 when every part was read, 1 when a system could not be read (its part says why).')
    .action(async (opts: { json?: boolean }) => {
      await ctx.run('status', async () => {
        const status = await readStatus(ctx.config());
        if (opts.json) console.log(JSON.stringify(status, null, 2));
        else for (const line of formatPipelineStatus(status)) console.log(line);
        return statusComplete(status) ? EXIT_OK : EXIT_RUNTIME;
      });
    });
}
