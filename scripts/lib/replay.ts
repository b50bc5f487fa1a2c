/**
 * Resetting a stopped consumer group to the earliest offsets, so that its service rebuilds what
 * it owns (docs/architecture.md, "Replay"; ops procedure in docs/runbooks/replay.md).
 *
 * Kafka itself refuses to change a group's offsets while members are connected (they would
 * overwrite the reset with their next commit); this module checks first and explains.
 */
import type { KafkaAdmin as Admin } from '../../services/common/kafka/index.ts';

/** The group has live members, has nothing to reset, or a named topic does not exist. */
export class ReplayRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayRefused';
  }
}

export interface PartitionReset {
  partition: number;
  /** Committed offset before the reset; null when the group had none for this partition. */
  committed: string | null;
  /** The earliest offset still in the log (0 unless retention removed older messages). */
  earliest: string;
}

export interface ReplayPlan {
  groupId: string;
  /** Group state before the reset: "Empty" (stopped) or "Dead" (never seen / expired). */
  state: string;
  topics: { topic: string; partitions: PartitionReset[] }[];
}

/**
 * Plans, and unless `dryRun` applies, the reset of `groupId` to the earliest offset of every
 * partition of `topics` (default: every topic the group has committed offsets for).
 * @throws ReplayRefused when the group has live members (naming them), when it has no
 *   committed offsets and no topics were named, or when a named topic does not exist.
 */
export async function resetGroupToEarliest(admin: Admin, groupId: string, options: { topics?: string[]; dryRun?: boolean } = {}): Promise<ReplayPlan> {
  const [group] = await admin.describeGroups([groupId]);
  const members = group?.members ?? [];
  if (members.length > 0) {
    const who = members.map((m) => `${m.clientId} on ${m.clientHost.replace(/^\//, '')}`).join(', ');
    throw new ReplayRefused(
      `consumer group "${groupId}" has ${members.length} live member(s) (${who}), state ${group!.state}: stop every instance of its service first, then run the replay again`,
    );
  }
  let topics = options.topics;
  if (!topics || topics.length === 0) {
    const committed = await admin.fetchOffsets(groupId);
    topics = committed.filter((t) => t.partitions.some((p) => Number(p.offset) >= 0)).map((t) => t.topic);
    if (topics.length === 0) throw new ReplayRefused(`consumer group "${groupId}" has no committed offsets: name the topics to replay with --topics`);
  }
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length > 0) throw new ReplayRefused(`topic(s) not found: ${missing.join(', ')}`);

  const committedByTopic = new Map((await admin.fetchOffsets(groupId, topics)).map((t) => [t.topic, new Map(t.partitions.map((p) => [p.partition, p.offset]))]));
  const plan: ReplayPlan = { groupId, state: group?.state ?? 'Dead', topics: [] };
  for (const topic of [...topics].sort()) {
    const ends = await admin.fetchTopicOffsets(topic);
    const partitions = ends
      .map((e) => {
        const committed = committedByTopic.get(topic)?.get(e.partition);
        return { partition: e.partition, committed: committed !== undefined && Number(committed) >= 0 ? committed : null, earliest: e.low };
      })
      .sort((a, b) => a.partition - b.partition);
    plan.topics.push({ topic, partitions });
  }
  if (options.dryRun) return plan;
  for (const { topic, partitions } of plan.topics) {
    await admin.setOffsets(groupId, topic, partitions.map((p) => ({ partition: p.partition, offset: p.earliest })));
  }
  return plan;
}
