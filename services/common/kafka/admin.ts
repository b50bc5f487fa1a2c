/**
 * The admin calls the project makes (topics, watermarks, group offsets and membership), on
 * @platformatic/kafka's Admin, with plain results: offsets are decimal strings as Kafka tools print
 * them ("-1" = no committed offset), partitions are numbers.
 *
 * Users: the CDC service and the consumers (creating their topics and dead-letter topics), the
 * pipeline status (lag, dead letters, group liveness), replay (group offset reset), the local
 * stack's health check, the monitor, tests and benchmarks.
 */
import type { Admin } from '@platformatic/kafka';
import type { KafkaSettings } from '../config.ts';
import type { Logger } from '../logger.ts';
import { createAdmin } from './client.ts';

/** A partition's offsets: `low` is the first retained offset, `high` the next one to be written. */
export interface TopicPartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

/** A group's committed offset on one partition ("-1" when none). */
export interface CommittedOffset {
  partition: number;
  offset: string;
}

/** A consumer group as DescribeGroups reports it. */
export interface GroupDescription {
  groupId: string;
  /** Kafka's state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead, Unknown. */
  state: string;
  members: { memberId: string; clientId: string; clientHost: string; assignment: Record<string, number[]> }[];
}

const EARLIEST = -2n;
const LATEST = -1n;

/** The project's admin client; see the module documentation. `close()` when done. */
export class KafkaAdmin {
  constructor(readonly client: Admin) {}

  /** An admin client for `service` from the configuration (services/common/kafka/client.ts). */
  static create(config: KafkaSettings, service: string, logger: Logger, options: Parameters<typeof createAdmin>[3] = {}): KafkaAdmin {
    return new KafkaAdmin(createAdmin(config, service, logger, options));
  }

  /** Topic names, internal topics (`__consumer_offsets`...) excluded. */
  listTopics(): Promise<string[]> {
    return this.client.listTopics({ includeInternals: false });
  }

  /** Partition count of each of `topics` that exists. */
  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const existing = new Set(await this.listTopics());
    const wanted = topics.filter((t) => existing.has(t));
    if (wanted.length === 0) return new Map();
    const meta = await this.client.metadata({ topics: wanted, forceUpdate: true });
    return new Map(wanted.map((t) => [t, meta.topics.get(t)?.partitionsCount ?? 0]));
  }

  /**
   * Creates `topic` with `partitions` partitions unless it exists (another process may create it
   * at the same time: that is not an error), then waits until every partition has a leader, as a
   * freshly started KRaft broker can briefly answer UNKNOWN_TOPIC_OR_PARTITION for a new topic.
   * @param configs topic configuration, e.g. `{ 'cleanup.policy': 'compact' }`.
   * @returns true when this call created it.
   * @throws the broker's error, or a timeout error after `timeoutMs`.
   */
  async ensureTopic(topic: string, partitions: number, options: { configs?: Record<string, string>; timeoutMs?: number } = {}): Promise<boolean> {
    let created = false;
    if (!(await this.listTopics()).includes(topic)) {
      try {
        await this.client.createTopics({
          topics: [topic],
          partitions,
          replicas: -1,
          configs: Object.entries(options.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
        created = true;
      } catch (err) {
        if (!(await this.listTopics()).includes(topic)) throw err;
      }
    }
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      let problem: unknown;
      try {
        const meta = await this.client.metadata({ topics: [topic], forceUpdate: true });
        const found = meta.topics.get(topic)?.partitions ?? [];
        if (found.length > 0 && found.every((p) => p.leader >= 0)) return created;
        problem = new Error(`topic ${topic}: partitions without a leader`);
      } catch (err) {
        problem = err;
      }
      if (Date.now() > deadline) throw problem;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Deletes `topics` (those that exist). */
  async deleteTopics(topics: readonly string[]): Promise<void> {
    const existing = new Set(await this.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await this.client.deleteTopics({ topics: present });
  }

  /** Low and high watermarks of every partition of `topic`, by partition. */
  async fetchTopicOffsets(topic: string): Promise<TopicPartitionOffsets[]> {
    const meta = await this.client.metadata({ topics: [topic] });
    const count = meta.topics.get(topic)?.partitionsCount ?? 0;
    const indexes = Array.from({ length: count }, (_, i) => i);
    const ask = (timestamp: bigint) => this.client.listOffsets({ topics: [{ name: topic, partitions: indexes.map((partitionIndex) => ({ partitionIndex, timestamp })) }] });
    const [low, high] = await Promise.all([ask(EARLIEST), ask(LATEST)]);
    const byPartition = (listed: Awaited<ReturnType<typeof ask>>) => new Map(listed.flatMap((t) => t.partitions).map((p) => [p.partitionIndex, p.offset]));
    const lows = byPartition(low);
    const highs = byPartition(high);
    return indexes.map((partition) => ({ partition, low: String(lows.get(partition) ?? 0n), high: String(highs.get(partition) ?? 0n) }));
  }

  /**
   * Offsets `groupId` committed, per topic. Without `topics`, every topic the group committed on.
   * A partition without a committed offset has "-1".
   */
  async fetchOffsets(groupId: string, topics?: readonly string[]): Promise<{ topic: string; partitions: CommittedOffset[] }[]> {
    let request: { name: string; partitionIndexes: number[] }[] | null = null;
    if (topics) {
      const counts = await this.partitionCounts(topics);
      request = [...counts].map(([name, count]) => ({ name, partitionIndexes: Array.from({ length: count }, (_, i) => i) }));
      if (request.length === 0) return [];
    }
    const [group] = await this.client.listConsumerGroupOffsets({ groups: [{ groupId, topics: request }] });
    return (group?.topics ?? []).map((t) => ({
      topic: t.name,
      partitions: t.partitions.map((p) => ({ partition: p.partitionIndex, offset: String(p.committedOffset) })).sort((a, b) => a.partition - b.partition),
    }));
  }

  /** Commits `offsets` (next offset to read, per partition of `topic`) for `groupId`, which must have no active member. */
  async setOffsets(groupId: string, topic: string, offsets: readonly { partition: number; offset: string }[]): Promise<void> {
    await this.client.alterConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionOffsets: offsets.map((o) => ({ partition: o.partition, offset: BigInt(o.offset) })) }] });
  }

  /** State and members of `groupIds` (an unknown group is reported as state Dead with no member). */
  async describeGroups(groupIds: readonly string[]): Promise<GroupDescription[]> {
    if (groupIds.length === 0) return [];
    const groups = await this.client.describeGroups({ groups: [...groupIds] });
    return groupIds.map((groupId) => {
      const g = groups.get(groupId);
      if (!g) return { groupId, state: 'Dead', members: [] };
      return {
        groupId,
        state: g.state,
        members: [...g.members.values()].map((m) => ({
          memberId: m.id,
          clientId: m.clientId,
          clientHost: m.clientHost,
          assignment: Object.fromEntries([...(m.assignments?.values() ?? [])].map((a) => [a.topic, [...a.partitions]])),
        })),
      };
    });
  }

  /** The cluster's brokers (node id, host, port) and controller: a cheap "is Kafka up" probe. */
  async describeCluster(): Promise<{ clusterId: string; controller: number; brokers: { nodeId: number; host: string; port: number }[] }> {
    const meta = await this.client.metadata({ topics: [], forceUpdate: true });
    return { clusterId: meta.id, controller: meta.controllerId, brokers: [...meta.brokers].map(([nodeId, b]) => ({ nodeId, host: b.host, port: b.port })) };
  }

  /** Closes the client's connections. */
  close(): Promise<void> {
    return this.client.close();
  }
}
