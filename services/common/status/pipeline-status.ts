/**
 * Where the pipeline stands, read from the systems themselves (no service has to report it): one
 * part per source of truth, each read independently (services/common/status/kafka-lag.ts,
 * replication-slot.ts, batch-state.ts), so an unreachable system never hides the others.
 * Formatting for a terminal is format.ts. Used by `lakehouse status`; the monitor reads the parts
 * with its long-lived clients.
 */
import { kafkaErrorMessage, type KafkaAdmin as Admin } from '../kafka/index.ts';
import pg from 'pg';
import { pgConnection, type StatusConfig } from '../config.ts';
import { readBatchState, type BatchState } from './batch-state.ts';
import { readConsumerLag, readDeadLetterCounts, readGroupLiveness, watchedGroups, type DeadLetterCount, type GroupLag, type GroupLiveness } from './kafka-lag.ts';
import { readSlotStatus, type SlotStatus } from './replication-slot.ts';

/** The whole status, each part read independently: a part that could not be read carries `error`. */
export interface PipelineStatus {
  checkedAt: string;
  kafka: { error: string | null; groups: (GroupLag & { liveness: GroupLiveness | null })[]; deadLetters: DeadLetterCount[] };
  replicationSlot: SlotStatus | { slotName: string; error: string };
  batch: BatchState | { error: string };
}

/**
 * Reads the whole status with short-lived clients (for `lakehouse status`). Never throws for an
 * unreachable system: its part carries the error message instead.
 * @param connectAdmin returns an admin client (closed here afterwards).
 */
export async function readPipelineStatus(config: StatusConfig, connectAdmin: () => Promise<Admin>): Promise<PipelineStatus> {
  const kafka = await (async (): Promise<PipelineStatus['kafka']> => {
    let admin: Admin | undefined;
    try {
      admin = await connectAdmin();
      const topics = await admin.listTopics();
      const groups = watchedGroups(config);
      const lag = await readConsumerLag(admin, groups, topics);
      const liveness = await readGroupLiveness(admin, groups.map((g) => g.groupId));
      return {
        error: null,
        groups: lag.map((l) => ({ ...l, liveness: liveness.find((x) => x.groupId === l.groupId) ?? null })),
        deadLetters: await readDeadLetterCounts(admin, config.kafka.topicPrefix, topics),
      };
    } catch (err) {
      return { error: kafkaErrorMessage(err), groups: [], deadLetters: [] };
    } finally {
      await admin?.close().catch(() => undefined);
    }
  })();
  const replicationSlot = await (async (): Promise<PipelineStatus['replicationSlot']> => {
    const db = new pg.Client({ ...pgConnection(config, 'monitor'), connectionTimeoutMillis: 5_000, application_name: 'sport-lakehouse-status' });
    try {
      await db.connect();
      return await readSlotStatus(db, config.cdc.slotName);
    } catch (err) {
      return { slotName: config.cdc.slotName, error: (err as Error).message };
    } finally {
      await db.end().catch(() => undefined);
    }
  })();
  const batch = await readBatchState(config).catch((err: Error) => ({ error: err.message }));
  return { checkedAt: new Date().toISOString(), kafka, replicationSlot, batch };
}
