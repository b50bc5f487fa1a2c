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

/** Two bronze files of one partition whose offset ranges overlap (issue 14). */
export interface ManifestOverlap {
  topic: string;
  partition: number;
  /** The manifest of the file read. */
  kept: string;
  /** The manifest of the other file. */
  other: string;
  /** `dropped`: the other file lies wholly inside kept files and is not read; `partial`: both are read. */
  outcome: 'dropped' | 'partial';
}

/**
 * One copy of every offset (issue 14: a replay that cut a recorded range elsewhere wrote the same
 * offsets again under other keys, so the manifests overlap and the lake holds those rows twice).
 * Per partition, files are taken longest first among those starting at the same offset; a file
 * whose range lies wholly inside the ranges taken so far is dropped (its rows are those of the
 * kept files: same topic, partition and offsets); a file that overlaps but also covers new
 * offsets is kept, and silver removes its repeated rows by key and LSN as it does for any
 * re-delivery. Every overlap is reported. Pure.
 * @param files bronze files, grouped by partition in any order.
 * @returns the files to read, in (topic, partition, first offset) order, and the overlaps.
 */
export function dropOverlappingFiles(files: readonly BronzeFile[]): { files: BronzeFile[]; overlaps: ManifestOverlap[] } {
  const sorted = [...files].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.firstOffset - b.firstOffset || b.lastOffset - a.lastOffset));
  const kept: BronzeFile[] = [];
  const overlaps: ManifestOverlap[] = [];
  /** The kept file reaching furthest in the current partition. */
  let reach: BronzeFile | undefined;
  for (const f of sorted) {
    if (reach && (reach.topic !== f.topic || reach.partition !== f.partition)) reach = undefined;
    if (reach && f.firstOffset <= reach.lastOffset) {
      const outcome = f.lastOffset <= reach.lastOffset ? 'dropped' : 'partial';
      overlaps.push({ topic: f.topic, partition: f.partition, kept: reach.manifestKey, other: f.manifestKey, outcome });
      if (outcome === 'dropped') continue;
    }
    kept.push(f);
    if (!reach || f.lastOffset > reach.lastOffset) reach = f;
  }
  return { files: kept, overlaps };
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
