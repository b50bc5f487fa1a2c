import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { groupMessagesPerPartitionLinear } from './kafkajs-linear-grouping.ts';

const require = createRequire(import.meta.url);

/** kafkajs' original function, evaluated from its source (the module cache may hold the replacement). */
function originalGrouping(): typeof groupMessagesPerPartitionLinear {
  const source = readFileSync(require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js'), 'utf8');
  const mod = { exports: {} as unknown };
  new Function('module', 'exports', 'require', source)(mod, mod.exports, require);
  return mod.exports as typeof groupMessagesPerPartitionLinear;
}

describe('kafkajs linear grouping', () => {
  it('returns exactly what kafkajs returns: same partitions, same messages, same order', () => {
    const original = originalGrouping();
    const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }, { partitionId: 3 }];
    const messages = Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: (i * 7919) % 4 }));
    const partitioner = ({ message }: { message: { partition: number } }) => message.partition;
    const args = { topic: 't', partitionMetadata, messages, partitioner };
    expect(groupMessagesPerPartitionLinear(args)).toEqual(original(args));
    expect(Object.keys(groupMessagesPerPartitionLinear(args))).toEqual(Object.keys(original(args)));
    expect(groupMessagesPerPartitionLinear({ ...args, partitionMetadata: [] })).toEqual(original({ ...args, partitionMetadata: [] }));
  });
});
