/**
 * `lakehouse status [--json] [--wait-caught-up [--timeout <s>]]`: consumer lag per group,
 * replication slot lag, dead letters, last refresh and quality, read from the systems themselves
 * (services/common/status/), so it works while the services are down; plus the CDC service's
 * incremental snapshots and their progress (its state topic, snapshot.ts). A part that cannot be
 * read is shown with its error and makes the exit code 1; everything read: 0.
 *
 * `--wait-caught-up` waits until what the source had written when the command started is in
 * bronze: the CDC slot has confirmed that WAL position (every event up to it acknowledged by
 * Kafka, docs/architecture.md) and the bronze writer's consumer group has committed every message
 * of its topics (committed = stored in the lake). It is what a script runs between the capture
 * and a refresh that must see those changes.
 */
import type { Command } from 'commander';
import pRetry from 'p-retry';
import type { Config } from '../../../services/common/config.ts';
import { formatPipelineStatus } from '../../../services/common/status/format.ts';
import { readPipelineStatus, type PipelineStatus } from '../../../services/common/status/pipeline-status.ts';
import { parseLsn } from '../../../services/cdc/lsn.ts';
import { connectableKafkaAdmin } from './connections.ts';
import { EXIT_OK, EXIT_RUNTIME, UsageError } from './errors.ts';
import type { CommandContext } from './program.ts';
import { readSnapshotSection, snapshotSectionLines } from './snapshot.ts';

/**
 * Kafka's answers while a group coordinator is not ready yet (a broker that has just started is
 * still loading `__consumer_offsets`): the messages of COORDINATOR_LOAD_IN_PROGRESS,
 * COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR, all retriable per the Kafka protocol; the
 * status reads again.
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

/** How far a status is from caught up ({@link caughtUpProgress}). */
export interface CaughtUpProgress {
  done: boolean;
  /** What is still missing, one phrase per part (empty when done). */
  waitingFor: string[];
}

/**
 * The WAL position a wait must see confirmed (pure): the source's current position when `status`
 * was read (confirmed_flush_lsn + the slot's lag in bytes); null while the slot or its lag is not
 * known (no slot yet, PostgreSQL unreachable).
 */
export function walTarget(status: PipelineStatus): bigint | null {
  const slot = status.replicationSlot;
  if ('error' in slot || !slot.exists || slot.confirmedFlushLsn === null || slot.lagBytes === null) return null;
  return parseLsn(slot.confirmedFlushLsn) + BigInt(slot.lagBytes);
}

/**
 * Whether `status` shows bronze caught up with the WAL position `target` (pure): the slot
 * confirmed `target`, and the bronze writer's group has no lag on its topics (it must have
 * topics: before the CDC service created them nothing is caught up).
 */
export function caughtUpProgress(status: PipelineStatus, target: bigint | null): CaughtUpProgress {
  const waitingFor: string[] = [];
  const slot = status.replicationSlot;
  if ('error' in slot) waitingFor.push(`replication slot ${slot.slotName}: ${slot.error}`);
  else if (!slot.exists || slot.confirmedFlushLsn === null) waitingFor.push(`replication slot ${slot.slotName} (not created yet: is the CDC service running?)`);
  else if (target === null || parseLsn(slot.confirmedFlushLsn) < target) {
    waitingFor.push(`CDC to confirm the source's WAL (slot ${slot.slotName} ${formatBytesShort(Number(target === null ? 0n : target - parseLsn(slot.confirmedFlushLsn)))} behind)`);
  }
  const bronze = status.kafka.groups.find((g) => g.service === 'bronze-writer');
  if (status.kafka.error !== null) waitingFor.push(`Kafka: ${status.kafka.error}`);
  else if (!bronze || bronze.topics.length === 0) waitingFor.push('the bronze writer\'s topics (none yet: has the CDC service created them?)');
  else if (bronze.totalLag > 0) waitingFor.push(`bronze writer group ${bronze.groupId} (${bronze.totalLag} messages not stored yet)`);
  return { done: waitingFor.length === 0, waitingFor };
}

function formatBytesShort(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Reads the status until {@link caughtUpProgress} is done, printing what it waits for every
 * 10 s on stderr. The WAL target is the position at the first read where the slot was readable.
 * @returns the last status and whether it caught up before `timeoutMs`.
 */
async function waitCaughtUp(config: Config, timeoutMs: number): Promise<{ status: PipelineStatus; caughtUp: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let target: bigint | null = null;
  let lastReport = Date.now();
  for (;;) {
    const status = await readStatus(config);
    target ??= walTarget(status);
    const progress = caughtUpProgress(status, target);
    if (progress.done) return { status, caughtUp: true };
    if (Date.now() >= deadline) {
      console.error(`not caught up after ${Math.round(timeoutMs / 1000)} s: waiting for ${progress.waitingFor.join('; ')}`);
      return { status, caughtUp: false };
    }
    if (Date.now() - lastReport >= 10_000) {
      console.error(`waiting for ${progress.waitingFor.join('; ')}`);
      lastReport = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export function registerStatus(program: Command, ctx: CommandContext): void {
  program
    .command('status')
    .description('consumer lag per group, replication slot lag, dead letters, last refresh and quality')
    .option('--json', 'print the status as JSON (for scripts)')
    .option('--wait-caught-up', 'first wait until bronze holds every change the source had when the command started (CDC slot confirmed, bronze writer group without lag)')
    .option('--timeout <seconds>', 'with --wait-caught-up: give up after this many seconds', '300')
    .addHelpText('after', '\nExit code 0 when every part was read (and, with --wait-caught-up, bronze caught up), 1 when a system could not be read (its part says why) or the wait timed out.')
    .action(async (opts: { json?: boolean; waitCaughtUp?: boolean; timeout: string }) => {
      await ctx.run('status', async () => {
        const timeoutS = Number(opts.timeout);
        if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got "${opts.timeout}"`);
        const { status, caughtUp } = opts.waitCaughtUp ? await waitCaughtUp(ctx.config(), timeoutS * 1000) : { status: await readStatus(ctx.config()), caughtUp: true };
        const snapshots = await readSnapshotSection(ctx.config());
        if (opts.json) console.log(JSON.stringify({ ...status, incrementalSnapshots: snapshots }, null, 2));
        else for (const line of [...formatPipelineStatus(status), ...snapshotSectionLines(snapshots)]) console.log(line);
        return statusComplete(status) && caughtUp && !('error' in snapshots) ? EXIT_OK : EXIT_RUNTIME;
      });
    });
}
