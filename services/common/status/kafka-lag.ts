/**
 * Pipeline status, source of truth Kafka: consumer-group lag per topic-partition (high watermark
 * minus committed offset, Kafka's definition of consumer lag), whether each group has live
 * members (DescribeGroups), and the messages retained in the dead-letter topics.
 *
 * The pure parts (lag arithmetic, liveness) are exported for unit tests; the readers are thin
 * adapters over the Kafka admin client (services/common/kafka). Used by the monitor (services/monitor) and `lakehouse status`.
 */
import type { KafkaAdmin as Admin } from '../kafka/index.ts';
import type { StatusConfig } from '../config.ts';
import { isSchemaTopic } from '../contracts/table-schema.ts';

/** The services that consume from Kafka, with their consumer group. */
export type ConsumerService = 'bronze-writer' | 'slack-notifier' | 'distance-worker';

/** A consumer group the status watches, and the topics it is expected to read. */
export interface WatchedGroup {
  service: ConsumerService;
  groupId: string;
  /** Selects the topics the group reads among the broker's topics (dead-letter topics never). */
  topics: (allTopics: readonly string[]) => string[];
}

/**
 * The three consumer groups of the project (BRONZE_CONSUMER_GROUP, SLACK_CONSUMER_GROUP,
 * DISTANCE_CONSUMER_GROUP) with their topics: the bronze writer reads BRONZE_TOPICS or every
 * topic matching its pattern, the Slack notifier `<prefix>.public.activities`, the distance worker
 * `<prefix>.public.employees` (docs/contracts/change-events.md).
 */
export function watchedGroups(config: Pick<StatusConfig, 'bronze' | 'slack' | 'distance'> & { kafka: { topicPrefix: string } }): WatchedGroup[] {
  const prefix = config.kafka.topicPrefix;
  const only = (name: string) => (all: readonly string[]) => all.filter((t) => t === name);
  return [
    {
      service: 'bronze-writer',
      groupId: config.bronze.consumerGroup,
      topics: (all) => all.filter((t) => !isDeadLetterTopic(t) && !isSchemaTopic(t) && (config.bronze.topics ? config.bronze.topics.includes(t) : config.bronze.topicPattern.test(t))),
    },
    { service: 'slack-notifier', groupId: config.slack.consumerGroup, topics: only(`${prefix}.public.activities`) },
    { service: 'distance-worker', groupId: config.distance.consumerGroup, topics: only(`${prefix}.public.employees`) },
  ];
}

/** True for a dead-letter topic name (`<topic>.dlq`, services/common/dead-letter.ts). */
export function isDeadLetterTopic(topic: string): boolean {
  return topic.endsWith('.dlq');
}

/** Watermarks of one partition, as offsets (numbers; exact below 2^53). */
export interface PartitionWatermarks {
  partition: number;
  /** Offset of the next message to be written (log end offset). */
  high: number;
  /** Offset of the oldest retained message. */
  low: number;
}

/** Lag of one group on one topic-partition. */
export interface PartitionLag {
  topic: string;
  partition: number;
  /** Committed offset (next message the group will read); null when the group never committed here. */
  committed: number | null;
  high: number;
  low: number;
  /** Messages not yet consumed: high - committed, or high - low without a commit (the services start from the beginning). */
  lag: number;
}

/** Lag of one group. */
export interface GroupLag {
  groupId: string;
  service?: ConsumerService;
  topics: string[];
  partitions: PartitionLag[];
  /** Sum of the partitions' lag, messages. */
  totalLag: number;
}

/**
 * Lag of one partition in messages (pure). A committed offset of -1 or null means "no commit";
 * the group then starts from the oldest retained message, so everything retained is pending. A
 * committed offset below `low` (records deleted by retention) counts from `low`; never negative.
 */
export function partitionLag(committed: number | null, w: { high: number; low: number }): number {
  const from = committed === null || committed < 0 ? w.low : Math.max(committed, w.low);
  return Math.max(0, w.high - from);
}

/**
 * A group's lag over `topics` (pure).
 * @param committed the admin client's `fetchOffsets` result: per topic, partitions with `offset` as a decimal string ("-1" = none).
 * @param watermarks per topic, the partitions' watermarks.
 */
export function computeGroupLag(
  groupId: string,
  topics: readonly string[],
  committed: readonly { topic: string; partitions: readonly { partition: number; offset: string }[] }[],
  watermarks: ReadonlyMap<string, readonly PartitionWatermarks[]>,
): GroupLag {
  const commits = new Map<string, number>();
  for (const t of committed) for (const p of t.partitions) commits.set(`${t.topic}\u0000${p.partition}`, Number(p.offset));
  const partitions: PartitionLag[] = [];
  for (const topic of [...topics].sort()) {
    for (const w of [...(watermarks.get(topic) ?? [])].sort((a, b) => a.partition - b.partition)) {
      const c = commits.get(`${topic}\u0000${w.partition}`);
      const committedOffset = c === undefined || c < 0 ? null : c;
      partitions.push({ topic, partition: w.partition, committed: committedOffset, high: w.high, low: w.low, lag: partitionLag(committedOffset, w) });
    }
  }
  return { groupId, topics: [...topics].sort(), partitions, totalLag: partitions.reduce((s, p) => s + p.lag, 0) };
}

/** Reads the watermarks of `topics` (one metadata + ListOffsets round per topic, in parallel). */
export async function readWatermarks(admin: Admin, topics: readonly string[]): Promise<Map<string, PartitionWatermarks[]>> {
  const entries = await Promise.all(
    topics.map(async (topic) => {
      const offsets = await admin.fetchTopicOffsets(topic);
      return [topic, offsets.map((o) => ({ partition: o.partition, high: Number(o.high), low: Number(o.low) }))] as const;
    }),
  );
  return new Map(entries);
}

/**
 * Lag of each group over the topics it reads (those of {@link WatchedGroup.topics} that exist,
 * plus any other existing topic it has committed offsets on).
 * @param allTopics the broker's topics (admin.listTopics()); read when omitted.
 * @param watermarks reused when given (e.g. from {@link readWatermarks} on every topic).
 */
export async function readConsumerLag(
  admin: Admin,
  groups: readonly WatchedGroup[],
  allTopics?: readonly string[],
  watermarks?: ReadonlyMap<string, readonly PartitionWatermarks[]>,
): Promise<GroupLag[]> {
  const topics = allTopics ?? (await admin.listTopics());
  const out: GroupLag[] = [];
  for (const g of groups) {
    // Without `topics`, OffsetFetch v2+ returns every topic the group committed on.
    const committed = await admin.fetchOffsets(g.groupId);
    const readTopics = [...new Set([...g.topics(topics), ...committed.map((c) => c.topic).filter((t) => topics.includes(t) && !isDeadLetterTopic(t))])];
    const marks = new Map<string, readonly PartitionWatermarks[]>();
    const missing = readTopics.filter((t) => !watermarks?.has(t));
    for (const [t, w] of await readWatermarks(admin, missing)) marks.set(t, w);
    for (const t of readTopics) if (watermarks?.has(t)) marks.set(t, watermarks.get(t)!);
    out.push({ ...computeGroupLag(g.groupId, readTopics, committed, marks), service: g.service });
  }
  return out;
}

/** Membership of a consumer group, i.e. whether its service is running. */
export interface GroupLiveness {
  groupId: string;
  /** Kafka's group state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead, Unknown. */
  state: string;
  members: number;
  /** At least one member and not Empty/Dead: some instance of the service is consuming. */
  live: boolean;
}

/** Liveness from a describeGroups entry (pure). */
export function groupLiveness(description: { groupId: string; state: string; members: readonly unknown[] }): GroupLiveness {
  const members = description.members.length;
  return { groupId: description.groupId, state: description.state, members, live: members > 0 && description.state !== 'Empty' && description.state !== 'Dead' };
}

/** Liveness of `groupIds` (one DescribeGroups request). An unknown group is reported Dead, 0 members. */
export async function readGroupLiveness(admin: Admin, groupIds: readonly string[]): Promise<GroupLiveness[]> {
  const groups = await admin.describeGroups([...groupIds]);
  return groupIds.map((id) => groupLiveness(groups.find((g) => g.groupId === id) ?? { groupId: id, state: 'Dead', members: [] }));
}

// ------------------------------------------------------------------ dead-letter topics

/** Messages retained in one dead-letter topic. */
export interface DeadLetterCount {
  topic: string;
  /** Sum over partitions of high - low watermark (records deleted by retention or deleteRecords are gone from it). */
  messages: number;
}

/** Messages retained in a topic (pure): sum over partitions of high - low. */
export function retainedMessages(watermarks: readonly PartitionWatermarks[]): number {
  return watermarks.reduce((s, w) => s + Math.max(0, w.high - w.low), 0);
}

/**
 * Counts of every `*.dlq` topic on the broker whose name starts with `<prefix>.`, sorted by topic.
 * @param watermarks reused when given.
 */
export async function readDeadLetterCounts(admin: Admin, topicPrefix: string, allTopics?: readonly string[], watermarks?: ReadonlyMap<string, readonly PartitionWatermarks[]>): Promise<DeadLetterCount[]> {
  const topics = (allTopics ?? (await admin.listTopics())).filter((t) => isDeadLetterTopic(t) && t.startsWith(`${topicPrefix}.`)).sort();
  const missing = topics.filter((t) => !watermarks?.has(t));
  const read = await readWatermarks(admin, missing);
  return topics.map((topic) => ({ topic, messages: retainedMessages(watermarks?.get(topic) ?? read.get(topic) ?? []) }));
}
