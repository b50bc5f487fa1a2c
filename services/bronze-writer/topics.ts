/**
 * Which topics the bronze writer consumes. Pure: no I/O.
 */
import { isSchemaTopic } from '../common/contracts/table-schema.ts';

/**
 * True for `<topic>.dlq` dead-letter topics, Kafka's internal `__*` topics and schema topics
 * (`<prefix>._schemas`, docs/contracts/table-schemas.md: not data, never bronze rows).
 */
export function isExcludedTopic(topic: string): boolean {
  return topic.endsWith('.dlq') || topic.startsWith('__') || isSchemaTopic(topic);
}

/**
 * The topics to consume among `existing`: the explicit list when given (those that exist),
 * else every topic matching `pattern`; never a dead-letter or internal topic. Sorted.
 */
export function selectTopics(existing: readonly string[], selection: { topics?: readonly string[]; topicPattern: RegExp }): string[] {
  const wanted = selection.topics ? new Set(selection.topics) : undefined;
  return existing
    .filter((t) => !isExcludedTopic(t) && (wanted ? wanted.has(t) : selection.topicPattern.test(t)))
    .sort();
}
