/**
 * Load-time replacement of kafkajs' `src/producer/groupMessagesPerPartition.js` by a linear
 * version returning the same object.
 *
 * Why: kafkajs groups a produce request's messages by partition with
 * `Object.assign(result, { [partition]: [...current, message] })`, which copies the partition's
 * array for every message: O(n^2 / partitions) time and garbage per request. In the CDC service's
 * allocation profile it was 44 % of all bytes allocated for 2,000-event requests (see
 * docs/benchmarks.md). The fix is kafkajs PR #1576 ("improve perf of groupMessagesForPartition"),
 * never merged because kafkajs is no longer maintained.
 *
 * How: kafkajs is CommonJS; its producer `require`s this file once, when kafkajs is first loaded.
 * Putting the replacement in Node's module cache before that makes kafkajs use it. This module must
 * therefore be imported before `kafkajs` (kafka-sink.ts does). If kafkajs was already loaded, or the
 * file is absent in another kafkajs version, nothing is changed: {@link linearGroupingStatus} says so.
 */
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

interface GroupArgs<M> {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: M }) => number;
}

/**
 * Same contract as kafkajs' groupMessagesPerPartition: `{ [partition]: messages in input order }`,
 * `{}` when the topic has no partition metadata. Linear time.
 */
export function groupMessagesPerPartitionLinear<M>({ topic, partitionMetadata, messages, partitioner }: GroupArgs<M>): Record<number, M[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<number, M[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

function install(): 'installed' | 'kafkajs-already-loaded' | 'unavailable' {
  let target: string;
  let sendMessages: string;
  try {
    target = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
    sendMessages = require.resolve('kafkajs/src/producer/sendMessages.js');
  } catch {
    return 'unavailable';
  }
  const cached = require.cache[target];
  if (cached?.exports === groupMessagesPerPartitionLinear) return 'installed';
  if (require.cache[sendMessages]) return 'kafkajs-already-loaded';
  const replacement = new Module(target);
  replacement.filename = target;
  replacement.loaded = true;
  replacement.exports = groupMessagesPerPartitionLinear;
  require.cache[target] = replacement;
  return 'installed';
}

/** Whether kafkajs in this process uses the linear grouping. */
export const linearGroupingStatus = install();
