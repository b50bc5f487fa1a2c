import { compatibilityPartitioner, murmur2 as clientMurmur2 } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { murmur2, murmur2String, partitionForKey } from './murmur2.ts';

// The Kafka client's own implementation (docs/decisions/0010-kafka-client.md), to prove the
// partitions are the ones it, with the factory's Java-compatible partitioner, would pick.
const referenceMurmur2 = (key: string) => clientMurmur2(Buffer.from(key), false);

describe('murmur2 partitioning', () => {
  it('matches the Java client test vectors (Kafka UtilsTest.testMurmur2)', () => {
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) {
      expect(murmur2(Buffer.from(key))).toBe(hash);
      expect(murmur2String(key)).toBe(hash);
    }
  });

  it('picks the same partition as the Kafka client\'s Java-compatible partitioner for change-event keys, ASCII or not', () => {
    const keys = [
      ...Array.from({ length: 2000 }, (_, i) => `{"activity_id":${i * 7919}}`),
      '{"employee_id":42,"started_at":"2024-01-01T08:30:00.000000Z"}',
      '{"name":"Élodie Vélo 🚲"}',
      'x'.repeat(300),
      '',
    ];
    for (const key of keys) {
      expect(murmur2String(key)).toBe(referenceMurmur2(key));
      const reference = compatibilityPartitioner({ topic: 't' }, Buffer.from(key));
      for (const partitions of [1, 3, 7]) expect(partitionForKey(key, partitions)).toBe(reference % partitions);
    }
  });
});
