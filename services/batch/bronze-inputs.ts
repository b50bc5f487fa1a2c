/**
 * Finds the bronze files a run must read, through the lake storage interface only
 * (services/common/lake-storage.ts; never DuckDB's httpfs, which needs internet to install).
 *
 * Listing follows the manifest layout of the bronze-object contract
 * (services/common/contracts/bronze-object.ts, docs/contracts/change-events.md "Bronze objects").
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
import {
  MANIFEST_ROOT,
  manifestPrefix,
  manifestStartAfter,
  parseManifest,
  parseManifestKey,
  topicPartitionOf,
  type BronzeFile,
} from '../common/contracts/bronze-object.ts';
import type { LakeStorage } from '../common/lake-storage.ts';

/** A manifest that could not be used; the partition is not read past it. */
export interface ManifestProblem {
  manifestKey: string;
  problem: string;
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
