/**
 * Finds the bronze files a run must read, through the lake storage interface only
 * (services/common/lake-storage.ts; never DuckDB's httpfs, which needs internet to install).
 *
 * Listing follows the manifest layout of docs/contracts/change-events.md ("Bronze objects"):
 * `_manifest/bronze/<topic>/p<partition>/<first>-<last>.json`, offsets zero-padded to 20 digits.
 * - Topic-partitions are discovered with a skip-scan: one `list(startAfter)` call per partition
 *   jumps past that partition's manifests, so discovery costs O(partitions) requests, not O(files).
 * - A partition is then listed from the first range starting after the last offset silver has
 *   consumed (incremental), or from its beginning (`--full`).
 *
 * For an s3:// lake the Parquet objects are downloaded to a run's temporary directory, because
 * DuckDB reads local files here; a file: lake is read in place.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { LakeStorage } from '../common/lake-storage.ts';
import { manifestPrefix, manifestStartAfter, parseManifestKey, type BronzeManifestEntry } from '../bronze-writer/layout.ts';

export const MANIFEST_ROOT = '_manifest/bronze/';

/** One bronze file to read, as its manifest (the bronze writer's entry) describes it, plus where that manifest is. */
export type BronzeFile = Omit<BronzeManifestEntry, 'writtenAt'> & { manifestKey: string };

/** A manifest that could not be used; the partition is not read past it. */
export interface ManifestProblem {
  manifestKey: string;
  problem: string;
}

const manifestSchema = z.object({
  key: z.string().min(1),
  topic: z.string().min(1),
  partition: z.number().int().min(0),
  firstOffset: z.number().int().min(0),
  lastOffset: z.number().int().min(0),
  rows: z.number().int().min(0),
  bytes: z.number().int().min(0),
  minKafkaTimestampMs: z.number(),
  maxKafkaTimestampMs: z.number(),
});

/**
 * Parses a manifest object and checks it against the key it was found under.
 * @returns the file, or a human-readable problem.
 */
export function parseManifest(manifestKey: string, body: string): BronzeFile | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { problem: 'not valid JSON' };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) return { problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  const m = parsed.data;
  const range = parseManifestKey(manifestKey);
  if (!range || range.firstOffset !== m.firstOffset || range.lastOffset !== m.lastOffset) {
    return { problem: `offsets ${m.firstOffset}-${m.lastOffset} do not match the manifest key` };
  }
  if (!manifestKey.startsWith(manifestPrefix(m.topic, m.partition))) return { problem: `topic/partition ${m.topic}/${m.partition} do not match the manifest key` };
  if (!m.key.startsWith(`bronze/${m.topic}/`) || !m.key.endsWith('.parquet')) return { problem: `data key ${m.key} is outside bronze/${m.topic}/` };
  return { ...m, manifestKey };
}

/** `_manifest/bronze/<topic>/p<partition>/...` -> topic and partition. */
export function topicPartitionOf(manifestKey: string): { topic: string; partition: number } | undefined {
  if (!manifestKey.startsWith(MANIFEST_ROOT)) return undefined;
  const rest = manifestKey.slice(MANIFEST_ROOT.length).split('/');
  if (rest.length !== 3) return undefined;
  const m = /^p(\d+)$/.exec(rest[1]!);
  if (!m || !rest[0]) return undefined;
  return { topic: rest[0], partition: Number(m[1]) };
}

/**
 * Every (topic, partition) with at least one manifest, by skip-scan.
 * '~' sorts after every character of a manifest file name (digits, '-', '.json'), so
 * `startAfter = <partition prefix>~` resumes listing at the next partition.
 */
export async function discoverPartitions(lake: LakeStorage): Promise<{ topic: string; partition: number }[]> {
  const found: { topic: string; partition: number }[] = [];
  let startAfter: string | undefined;
  for (;;) {
    let next: { topic: string; partition: number } | undefined;
    let foreign: string | undefined;
    for await (const obj of lake.list(MANIFEST_ROOT, startAfter === undefined ? {} : { startAfter })) {
      next = topicPartitionOf(obj.key);
      if (!next) foreign = obj.key;
      break;
    }
    if (next) {
      found.push(next);
      startAfter = `${manifestPrefix(next.topic, next.partition)}~`;
    } else if (foreign) {
      // Not a manifest (e.g. a stray file): step over it.
      startAfter = foreign;
    } else {
      return found;
    }
  }
}

/**
 * Manifests of one partition whose range starts after `afterOffset` (all when undefined), in
 * offset order, fetched `concurrency` at a time. Stops at the first unusable manifest, so a
 * partition is never consumed past a gap.
 */
export async function listPartitionFiles(
  lake: LakeStorage,
  topic: string,
  partition: number,
  afterOffset: number | undefined,
  concurrency = 16,
): Promise<{ files: BronzeFile[]; problem?: ManifestProblem }> {
  const keys: string[] = [];
  const options = afterOffset === undefined ? {} : { startAfter: manifestStartAfter(topic, partition, afterOffset + 1) };
  for await (const obj of lake.list(manifestPrefix(topic, partition), options)) {
    if (parseManifestKey(obj.key)) keys.push(obj.key);
  }
  const results = await mapLimit(keys, concurrency, async (key) => parseManifest(key, (await lake.get(key)).toString('utf8')));
  const files: BronzeFile[] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if ('problem' in r) return { files, problem: { manifestKey: keys[i]!, problem: r.problem } };
    files.push(r);
  }
  return { files };
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

/**
 * Local paths DuckDB can read for `files`: in place for a file: lake, else downloaded into
 * `tmpDir` (`onFile` is called after each file, for progress).
 */
export async function materialize(
  lake: LakeStorage,
  files: readonly BronzeFile[],
  tmpDir: string,
  concurrency: number,
  onFile?: (done: number, total: number) => void,
): Promise<string[]> {
  let done = 0;
  return mapLimit(files, concurrency, async (file) => {
    let local = lake.localPath(file.key);
    if (!local) {
      local = path.join(tmpDir, ...file.key.split('/'));
      await mkdir(path.dirname(local), { recursive: true });
      await writeFile(local, await lake.get(file.key));
    }
    onFile?.(++done, files.length);
    return local;
  });
}
