/**
 * Kafka's default partitioning: murmur2 of the key's bytes, made positive, modulo the partition
 * count (Java client `Utils.murmur2` / `Utils.toPositive`, the same as kafkajs' default
 * partitioner). Computed here with 32-bit integer arithmetic and no allocation for ASCII keys,
 * because kafkajs' version builds a Buffer and 64-bit Long objects per message, which showed up
 * in the service's CPU and allocation profiles (docs/benchmarks.md).
 *
 * Pure: no I/O.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const scratch = new Uint8Array(256);

/**
 * Kafka's murmur2 (seed 0x9747b28c) of `data`.
 * @returns the signed 32-bit hash, as Java's `Utils.murmur2(byte[])` returns it.
 */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** murmur2 of a string's UTF-8 bytes (what a producer sends as the key). */
export function murmur2String(key: string): number {
  const n = key.length;
  if (n <= scratch.length) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i);
      if (c > 0x7f) {
        ascii = false;
        break;
      }
      scratch[i] = c;
    }
    if (ascii) return murmur2(scratch, n);
  }
  return murmur2(Buffer.from(key, 'utf8'));
}

/**
 * The partition Kafka's default partitioner picks for a keyed message.
 * @param key the message key as sent (UTF-8).
 * @param partitions partition count of the topic (>= 1).
 */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2String(key) & 0x7fffffff) % partitions;
}
