/**
 * One refresh of the lakehouse: bronze -> silver -> gold, with the quality suite in between
 * (services/batch/README.md). Steps:
 * 1. rules file validated (a bad value throws RulesError before anything is opened);
 * 2. bronze files listed from the manifests: new ones since the last run, or all with `full`;
 * 3. silver merged in one transaction (a crash leaves the previous silver and the files unread),
 *    quarantine rebuilt;
 * 4. gold built aside, quality suite run (silver + gold tests, reconciliation, freshness, volume,
 *    cost drift); an error-level failure discards the aside file, gold stays as it was;
 * 5. views created (each with `figures_complete_through`, the completeness watermark), gold
 *    published into PostgreSQL when GOLD_PG_ENABLED (pg-publish.ts: atomically; a failure fails
 *    the run before anything is swapped), gold.duckdb swapped in, gold Parquet published under the
 *    lake's gold/ prefix;
 * 6. run_log appended (silver meta.run_log + JSON line) and the JSON quality report written,
 *    for every run that got past step 1, failed ones included.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { RefreshConfig } from '../common/config.ts';
import { openLake, verifyLake, type LakeStorage } from '../common/lake-storage.ts';
import type { BronzeFile } from '../common/contracts/bronze-object.ts';
import { encodeQualityReport, type QualityResult } from '../common/contracts/quality-report.ts';
import type { Completeness, RunLogEntry, RunStatus, RunTrigger } from '../common/contracts/run-log.ts';
import { publishGold, type GoldPgSettings, type PublishedRelation } from './pg-publish.ts';
import type { CompletenessSource } from './watermark.ts';
import { discoverPartitions, dropOverlappingFiles, listPartitionFiles, materialize, type ManifestOverlap, type ManifestProblem } from './bronze-inputs.ts';
import { bronzeFileReconciliation, costDriftCheck, freshnessChecks, layerReconciliation, rulesChangeDriftCheck, silverRowChecks, sourceReconciliation, volumeCheck } from './checks.ts';
import { exec, openDuck, queryOne, queryRows, type Duck } from './duck.ts';
import { asidePath, attachAside, createViews, discardAside, exportParquet, GOLD_NEXT, goldRel, publishedRelations, publishParquet, removeStaleAsideFiles, swapIn } from './gold-build.ts';
import { bucketRangeSql, GOLD_MODELS, stagingStatements, type GoldContext } from '../../products/sport-rewards/gold/models.ts';
import { QUARANTINE_MODEL, resolveRefs, silverModels } from './models/silver.ts';
import { bind, HISTORY_ROLES, PRODUCT_NAME, ROLES, type Binding } from '../../products/sport-rewards/binding.ts';
import {
  compileModelTests,
  hasBlockingFailure,
  insertResultsSql,
  metricResult,
  qualityResultsDdl,
  runCompiledTests,
  summarize,
} from './quality.ts';
import { QUARANTINE_DDL, quarantineOrder, quarantineStatements } from './quarantine.ts';
import { loadRules, RulesError, unknownSports, unknownSportsError, type LoadedRules } from './rules.ts';
import { appendRunLogLine, bronzeInputRanges, insertRunLogSql, runLogDdl } from './run-log.ts';
import {
  compactAppended,
  consumedOffsets,
  currentViewSql,
  ensureSilverCatalog,
  historySql,
  mergeFiles,
  partitionKey,
  resetSilver,
  resolveTable,
  silverTables,
  type PendingCompaction,
  type SchemaChange,
  type SilverTable,
  type TableMergeResult,
} from './silver.ts';
import { planTopic } from './schema-versions.ts';
import { silverName } from './silver-names.ts';
import { ident, literal } from './sql.ts';
import { loadLakeSchemas, type TableSchema } from './table-schema.ts';

/** Catalog alias of the silver database inside the batch's DuckDB instance. */
const SILVER = 'sdb';

/**
 * Storage format of a silver database file the batch creates (DuckDB's `STORAGE_VERSION` attach
 * option; an existing file keeps the format it was created with). DuckDB otherwise writes the
 * v0.10.2-compatible format, whose string compression is analysed twice (dictionary and FSST);
 * the v1.3+ format's single DICT_FSST pass made writing 10M typed activities about 10 % cheaper in
 * CPU (docs/benchmarks.md). Only this batch (same DuckDB library) opens silver; gold.duckdb, which
 * other tools read, keeps the default format.
 */
export const SILVER_STORAGE_VERSION = 'v1.5.0';

export interface RefreshOptions {
  /** Rebuild silver from all of bronze (backfill), instead of reading only new files. */
  full?: boolean;
  /** Reference time for "future" activities, freshness and volume; default now. */
  asOf?: Date;
  /** Rules file; default config.batch.rulesFile. */
  rulesFile?: string;
  /** Lake URL; default config.lakeUrl. */
  lakeUrl?: string;
  logger: Logger;
  /** Receives human progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
  /** Aborting interrupts the running DuckDB statement; the run ends as `interrupted`, gold untouched. */
  signal?: AbortSignal;
  /**
   * Accept a rules change that moves the bonus total more than `quality.rulesChangeMaxBonusDriftPct`
   * (without it, such a run keeps the previous gold: check `gold.rules_change_drift`).
   */
  acceptDrift?: boolean;
  /** What started the run (run_log); default `manual`. */
  trigger?: RunTrigger;
  /** Attempt number (1 = first) and the first failed run this one retries (run_log). */
  attempt?: number;
  retryOf?: string | null;
  /** Establishes the completeness watermark before bronze is listed (watermark.ts); none: carried from the previous run. */
  completeness?: CompletenessSource;
  /** Where to publish gold in PostgreSQL; default from GOLD_PG_* ({@link goldPgSettings}); null = not at all. */
  publish?: GoldPgSettings | null;
}

/** The PostgreSQL publishing settings of `config`, or null when GOLD_PG_ENABLED is false. */
export function goldPgSettings(config: RefreshConfig): GoldPgSettings | null {
  if (!config.goldPg.enabled) return null;
  return {
    host: config.postgres.host,
    port: config.postgres.port,
    database: config.goldPg.database,
    schema: config.goldPg.schema,
    user: config.postgres.publisher.user,
    password: config.postgres.publisher.password,
    readerRole: config.postgres.biReader.user,
  };
}

export interface RefreshOutcome {
  runId: string;
  status: RunStatus;
  entry: RunLogEntry;
  results: QualityResult[];
  reportFile: string;
  merges: TableMergeResult[];
  /** The data products of the run: which ran, which were skipped and why. */
  products: { name: string; status: 'ran' | 'skipped'; source: string; reason?: string }[];
}

/** Thrown when another refresh holds the silver database. */
export class BatchLockedError extends Error {
  constructor(file: string) {
    super(`another refresh is running: the silver database ${file} is locked`);
    this.name = 'BatchLockedError';
  }
}

/** Thrown when a run failed (it is in run_log as `failed`); `runId` names it. */
export class RefreshFailedError extends Error {
  constructor(
    readonly runId: string,
    reason: string,
  ) {
    super(`refresh ${runId} failed: ${reason}`);
    this.name = 'RefreshFailedError';
  }
}

/** `20261121T051200Z-a1b2c3`: sortable by time, unique. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/** Step timing and DuckDB progress, printed as human lines. */
class Progress {
  private last = 0;
  constructor(private readonly say: (line: string) => void) {}
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    this.say(`▶ ${name}`);
    const out = await fn();
    this.say(`✔ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return out;
  }
  duck = (step: string, pct: number) => {
    if (Date.now() - this.last < 2000) return;
    this.last = Date.now();
    this.say(`  … ${step}${pct >= 0 ? ` ${pct.toFixed(0)} %` : ''}`);
  };
}

/**
 * Runs one refresh.
 * @throws ConfigError (bad lake URL, missing bucket, access denied: nothing was touched),
 *   LakeUnreachableError (S3 endpoint unreachable: nothing was touched), RulesError (bad rules: nothing was touched; or a sport name of the rules found neither among
 *   the known sport types nor in the source's data: silver merged, gold untouched, run logged
 *   `failed`), BatchLockedError, or RefreshFailedError (any unexpected error, after recording the
 *   run as `failed` in run_log).
 */
export async function refresh(config: RefreshConfig, options: RefreshOptions): Promise<RefreshOutcome> {
  const rules = await loadRules(options.rulesFile ?? config.batch.rulesFile);
  const log = options.logger;
  const progress = new Progress(options.progress ?? (() => undefined));
  const startedAt = new Date();
  const asOf = options.asOf ?? startedAt;
  const runId = newRunId(startedAt);
  const mode = options.full ? 'full' : 'incremental';
  const tmpDir = path.join(config.batch.stateDir, 'tmp', runId);
  log.info({ runId, mode, rulesVersion: rules.rules.version, paramsHash: rules.hash, asOf: asOf.toISOString() }, 'refresh started');

  // The lake first: a bad URL, a missing bucket or an unreachable endpoint ends the run before
  // anything is touched, with one clear line (ConfigError, LakeUnreachableError).
  const lake = openLake(config, options.lakeUrl ?? config.lakeUrl);
  try {
    await verifyLake(lake, config);
  } catch (err) {
    lake.close();
    throw err;
  }
  const duck = await openDuck(':memory:', { threads: config.batch.threads, memoryLimit: config.batch.memoryLimit, tempDir: path.join(tmpDir, 'spill') });
  try {
    await duck.conn.run(`ATTACH ${literal(config.batch.silverDb)} AS ${SILVER} (STORAGE_VERSION ${literal(SILVER_STORAGE_VERSION)})`);
  } catch (err) {
    duck.close();
    lake.close();
    await rm(tmpDir, { recursive: true, force: true });
    if (/lock/i.test((err as Error).message)) throw new BatchLockedError(config.batch.silverDb);
    throw err;
  }
  const run = new RunState(config, rules, runId, mode, startedAt, asOf);
  run.acceptDrift = options.acceptDrift === true;
  let rulesError: RulesError | undefined;
  run.trigger = options.trigger ?? 'manual';
  run.attempt = options.attempt ?? 1;
  run.retryOf = options.retryOf ?? null;
  run.publish = options.publish === undefined ? goldPgSettings(config) : options.publish;
  const interrupt = () => duck.conn.interrupt();
  options.signal?.addEventListener('abort', interrupt, { once: true });
  try {
    await duck.conn.run(`USE ${SILVER}`);
    await ensureSilverCatalog(duck.conn);
    await duck.conn.run(QUARANTINE_DDL);
    await duck.conn.run(runLogDdl('meta.run_log'));
    await duck.conn.run(qualityResultsDdl('meta.quality_results'));
    run.batch = ((await queryOne<{ b: number | null }>(duck.conn, `SELECT max(batch) AS b FROM meta.run_log`))?.b ?? 0) + 1;
    await removeStaleAsideFiles(config.batch.goldDb);
    const interrupted = await queryOne<{ run_id: string }>(duck.conn, `SELECT run_id FROM meta.merge_in_progress LIMIT 1`);
    if (interrupted && !options.full) {
      log.warn({ runId, interruptedRun: interrupted.run_id }, 'the silver merge of an earlier run was interrupted: rebuilding everything (--full)');
      options = { ...options, full: true };
      run.mode = 'full';
    }

    // The watermark is established BEFORE bronze is listed: what it covers is then in the listing.
    const established = options.completeness ? await options.completeness.establish() : null;
    run.completeThrough = newest(established, await previousCompleteness(duck));
    const files = await progress.step('listing bronze', () => listInputs(duck, lake, options.full === true, run));
    const local = await progress.step(`reading ${files.length} bronze files`, () =>
      materialize(lake, files, tmpDir, config.batch.downloadConcurrency, (done, total) => {
        if (done % 50 === 0 || done === total) options.progress?.(`  … ${done}/${total} files`);
      }),
    );
    const localByKey = new Map(files.map((f, i) => [f.key, local[i]!]));

    options.signal?.throwIfAborted();
    await progress.step('silver', () => mergeSilver(duck, lake, files, localByKey, run, options.full === true, log, progress));
    const tables = await silverTables(duck.conn);
    const withProduct = productRuns(tables, run);
    if (withProduct) await checkRuleSports(duck, run);
    await progress.step('quarantine', () => rebuildQuarantine(duck, tables, rules, asOf, runId, withProduct ? run.binding : undefined));

    options.signal?.throwIfAborted();
    await progress.step('gold', () => buildGold(duck, config, lake, tables, run, tmpDir, progress, log));
  } catch (err) {
    if (options.signal?.aborted) {
      run.status = 'interrupted';
      run.error = `interrupted (${String(options.signal.reason ?? 'abort')}): gold and silver left as they were`;
      log.warn({ runId }, run.error);
    } else {
      run.status = 'failed';
      run.error = (err as Error).message;
      if (err instanceof RulesError) {
        rulesError = err;
        log.error({ runId, issues: err.issues }, 'refresh refused the rules file');
      } else log.error({ runId, err }, 'refresh failed');
    }
  } finally {
    options.signal?.removeEventListener('abort', interrupt);
    try {
      await finishRun(duck, run);
    } finally {
      duck.close();
      lake.close();
      await rm(tmpDir, { recursive: true, force: true });
    }
  }
  if (rulesError) throw rulesError;
  if (run.status === 'failed') throw new RefreshFailedError(runId, run.error ?? 'unknown error');
  return { runId, status: run.status, entry: run.entry!, results: run.results, reportFile: run.reportFile, merges: run.merges, products: run.products };
}

/** Everything the run learns, for run_log and the report. */
class RunState {
  batch = 0;
  status: RunStatus = 'success';
  error: string | null = null;
  files: BronzeFile[] = [];
  results: QualityResult[] = [];
  merges: TableMergeResult[] = [];
  rowCounts: Record<string, number> = {};
  costs: { bonusCostEur: number; wellbeingCostEur: number } | null = null;
  manifestProblems: ManifestProblem[] = [];
  manifestOverlaps: ManifestOverlap[] = [];
  schemaChanges: SchemaChange[] = [];
  legacyRows: { topic: string; rows: number; schemaId: string }[] = [];
  /** `--accept-drift`: a rules change may move the bonus total beyond the limit. */
  acceptDrift = false;
  /** Data products of the run and whether they ran. */
  products: { name: string; status: 'ran' | 'skipped'; source: string; reason?: string }[] = [];
  trigger: RunTrigger = 'manual';
  attempt = 1;
  retryOf: string | null = null;
  completeThrough: Completeness | null = null;
  publish: GoldPgSettings | null = null;
  published: RunLogEntry['published'] = null;
  readonly binding: Binding;
  entry: RunLogEntry | undefined;
  reportFile: string;
  constructor(
    readonly config: RefreshConfig,
    readonly rules: LoadedRules,
    readonly runId: string,
    public mode: 'full' | 'incremental',
    readonly startedAt: Date,
    readonly asOf: Date,
  ) {
    this.reportFile = path.join(config.batch.reportDir, `${runId}.json`);
    this.binding = bind(rules.rules, config.kafka.topicPrefix);
  }
}

async function listInputs(duck: Duck, lake: LakeStorage, full: boolean, run: RunState): Promise<BronzeFile[]> {
  const consumed = full ? new Map<string, number>() : await consumedOffsets(duck.conn);
  const partitions = await discoverPartitions(lake);
  // Partitions are listed concurrently (each already fetches its manifests 16 at a time); the
  // files keep partition order.
  const listed = await Promise.all(partitions.map(({ topic, partition }) => listPartitionFiles(lake, topic, partition, consumed.get(partitionKey(topic, partition)))));
  const files: BronzeFile[] = [];
  for (const { files: found, problem } of listed) {
    files.push(...found);
    if (problem) run.manifestProblems.push(problem);
  }
  // One copy of every offset: overlapping manifests (a replay that cut a range elsewhere).
  const { files: distinct, overlaps } = dropOverlappingFiles(files);
  run.manifestOverlaps = overlaps;
  run.files = distinct;
  return distinct;
}

async function mergeSilver(
  duck: Duck,
  lake: LakeStorage,
  files: readonly BronzeFile[],
  localByKey: Map<string, string>,
  run: RunState,
  full: boolean,
  log: Logger,
  progress: Progress,
): Promise<void> {
  const conn = duck.conn;
  const byTopic = new Map<string, BronzeFile[]>();
  for (const f of files) byTopic.set(f.topic, [...(byTopic.get(f.topic) ?? []), f]);
  const fileChecks: { key: string; manifestRows: number; rowsRead: number }[] = [];
  const lakeSchemas = await loadLakeSchemas(lake);
  for (const p of lakeSchemas.problems) {
    run.results.push(
      metricResult({
        id: `bronze.schemas.${p.key}`,
        model: 'bronze',
        type: 'schema',
        // Rows that name an invalid document are refused with their topic (bronze.<topic>.schema_link, error).
        severity: 'warn',
        description: 'every schema document in the lake is valid',
        status: 'fail',
        observed: p.problem,
      }),
    );
  }
  const historyTables = new Set(HISTORY_ROLES.map((r) => run.binding.tables[r]));

  // Two transactions: (1) append/merge every table and mark the merge in progress; (2) compact
  // the tables written by the append path, record the consumed files, clear the mark. A crash in
  // between leaves the mark, and the next run rebuilds everything (see refresh()).
  const pending: { result: TableMergeResult; pending: PendingCompaction }[] = [];
  const consumed: string[] = [];
  await conn.run('BEGIN TRANSACTION');
  try {
    if (full) await resetSilver(conn);
    await conn.run(`DELETE FROM meta.merge_in_progress; INSERT INTO meta.merge_in_progress VALUES (${literal(run.runId)}, now())`);
    for (const [topic, topicFiles] of byTopic) {
      topicFiles.sort((a, b) => a.partition - b.partition || a.firstOffset - b.firstOffset);
      const paths = topicFiles.map((f) => localByKey.get(f.key)!);
      const plan = await planTopic(conn, topic, paths, lakeSchemas.byTopic.get(topic), run.runId);
      if ('problem' in plan) {
        run.results.push(
          metricResult({
            id: `bronze.${topic}.schema_link`,
            model: 'bronze',
            type: 'schema',
            severity: 'error',
            description: 'every bronze row is linked to a schema document of the lake (silver types nothing from values)',
            status: 'fail',
            observed: `topic ${topic} not read (its files stay unconsumed): ${plan.problem}`,
          }),
        );
        continue;
      }
      if (plan.legacyRows > 0) run.legacyRows.push({ topic, rows: plan.legacyRows, schemaId: plan.legacySchemaId! });
      const name = silverName({ source: plan.current.source.name, schema: plan.current.source.schema, table: plan.current.source.table });
      const { table, changes } = await resolveTable(conn, topic, plan.current, plan.versions, plan.currentLsn, historyTables.has(name));
      run.schemaChanges.push(...changes);
      const before = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM state.${ident(table.name)}`);
      const { perFile, pending: toCompact, ...merge } = await progress.step(`silver ${table.name}: ${topicFiles.length} files`, () =>
        mergeFiles(conn, table, plan.read, run.runId, { fullRebuild: (before?.n ?? 0) === 0, onProgress: progress.duck }),
      );
      run.merges.push(merge);
      if (toCompact) pending.push({ result: merge, pending: toCompact });
      const rowsByPath = new Map(perFile.map((p) => [p.file, p.rows]));
      for (const f of topicFiles) fileChecks.push({ key: f.key, manifestRows: f.rows, rowsRead: rowsByPath.get(localByKey.get(f.key)!) ?? 0 });
      consumed.push(
        ...topicFiles.map(
          (f) =>
            `(${literal(f.key)}, ${literal(f.manifestKey)}, ${literal(f.topic)}, ${f.partition}, ${f.firstOffset}, ${f.lastOffset}, ${f.rows}, ${f.bytes}, ${f.minKafkaTimestampMs}, ${f.maxKafkaTimestampMs}, ${literal(run.runId)}, ${run.batch})`,
        ),
      );
    }
    // Tables whose schema is in the lake but which have no row yet exist (empty, typed), so a
    // data product binding them always binds.
    await ensureSchemaOnlyTables(duck, lakeSchemas.byTopic, historyTables);
    await exec(conn, 'COMMIT', 'silver: commit');
    await conn.run('BEGIN TRANSACTION');
    for (const { result, pending: p } of pending) {
      await progress.step(`silver ${p.table.name}: applying changes in source order`, () => compactAppended(conn, p, run.runId, result, progress.duck));
    }
    for (let i = 0; i < consumed.length; i += 500) await conn.run(`INSERT INTO meta.bronze_files VALUES ${consumed.slice(i, i + 500).join(', ')}`);
    await conn.run('DELETE FROM meta.merge_in_progress');
    await exec(conn, 'COMMIT', 'silver: commit compaction');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
  for (const m of run.merges) log.info({ runId: run.runId, table: m.name, ...m }, 'silver table merged');
  run.results.push(bronzeFileReconciliation(fileChecks));
  if (run.manifestOverlaps.length > 0) {
    const dropped = run.manifestOverlaps.filter((o) => o.outcome === 'dropped').length;
    run.results.push(
      metricResult({
        id: 'bronze.manifests_overlap',
        model: 'bronze',
        type: 'reconciliation',
        severity: 'warn',
        description: 'bronze manifests of a partition do not overlap (a file wholly inside others is not read; a partial overlap is read and its repeated rows removed)',
        status: 'fail',
        observed: `${run.manifestOverlaps.length} overlapping files: ${dropped} not read, ${run.manifestOverlaps.length - dropped} partly repeated`,
        sample: run.manifestOverlaps.slice(0, 5),
      }),
    );
  }
  if (run.manifestProblems.length > 0) {
    run.results.push(
      metricResult({
        id: 'bronze.manifests_readable',
        model: 'bronze',
        type: 'reconciliation',
        severity: 'error',
        description: 'every bronze manifest is readable and matches its key (a partition is not read past a bad one)',
        status: 'fail',
        observed: `${run.manifestProblems.length} unusable manifests`,
        sample: run.manifestProblems.slice(0, 5),
      }),
    );
  }
  for (const l of run.legacyRows) {
    run.results.push(
      metricResult({
        id: `bronze.${l.topic}.rows_without_schema_link`,
        model: 'bronze',
        type: 'schema',
        severity: 'warn',
        description: 'bronze rows carry the schema version they were produced with',
        status: 'fail',
        observed: `${l.rows} rows written before schemas travelled were decoded with schema ${l.schemaId} (the topic's earliest)`,
      }),
    );
  }
  for (const c of run.schemaChanges) {
    run.results.push(
      metricResult({
        id: `silver.${c.table}.schema_change.${c.column}`,
        model: `silver.${c.table}`,
        type: 'schema',
        severity: 'warn',
        description: 'schema changes of the source are applied to silver',
        status: c.kind === 'type_changed' && (c.unconverted ?? 0) > 0 ? 'fail' : 'pass',
        observed:
          c.kind === 'added'
            ? `column ${c.column} (${c.to}) added; rows last changed before it hold NULL (an ADD COLUMN default is not in the log: see silver.${c.table}.added_column_defaults)`
            : c.kind === 'dropped'
              ? `column ${c.column} (${c.from}) dropped from the view; state keeps it for older rows`
              : `column ${c.column} changed type ${c.from} -> ${c.to}; stored values converted by DuckDB's cast, ${c.unconverted ?? 0} did not convert (NULL, listed in _missing)`,
      }),
    );
  }
  for (const m of run.merges) {
    if (m.unkeyed > 0) {
      run.results.push(
        metricResult({
          id: `silver.${m.name}.unkeyed_events`,
          model: `silver.${m.name}`,
          type: 'schema',
          severity: 'warn',
          description: 'every event has a usable primary key',
          status: 'fail',
          observed: `${m.unkeyed} events without a primary key were left out of silver`,
          sample: m.unkeyedPositions,
        }),
      );
    }
    if (m.unmatchedRemovals > 0) {
      run.results.push(
        metricResult({
          id: `silver.${m.name}.keyless_removals_matched`,
          model: `silver.${m.name}`,
          type: 'reconciliation',
          severity: 'warn',
          description: 'every update and delete of a keyless table removes a row silver holds (the whole old row matched)',
          status: 'fail',
          observed: `${m.unmatchedRemovals} removals found no equal row in silver`,
          sample: m.unmatchedSamples,
        }),
      );
    }
  }
}

/** Creates the empty state table and view of every topic with a schema document but no silver table yet. */
async function ensureSchemaOnlyTables(duck: Duck, byTopic: Map<string, Map<string, TableSchema>>, historyTables: ReadonlySet<string>): Promise<void> {
  const existing = new Set((await silverTables(duck.conn)).map((t) => t.topic));
  for (const [topic, docs] of byTopic) {
    if (existing.has(topic) || docs.size === 0) continue;
    const doc = [...docs.values()].sort((a, b) => (a.schemaId < b.schemaId ? -1 : 1))[0]!;
    const name = silverName({ source: doc.source.name, schema: doc.source.schema, table: doc.source.table });
    const { table } = await resolveTable(duck.conn, topic, doc, [doc], 0, historyTables.has(name));
    await duck.conn.run(currentViewSql(table));
    if (table.history) await duck.conn.run(historySql(table));
  }
}

/**
 * The sport names of the rules must be known sport types or values of the source (declared
 * sports, activity types): a limit for a sport that exists nowhere is a misspelling.
 * @throws RulesError naming each unknown sport.
 */
async function checkRuleSports(duck: Duck, run: RunState): Promise<void> {
  const named = Object.keys(run.rules.rules.quarantine.maxSpeedKmhBySport);
  if (unknownSports(run.rules.rules, []).length === 0 || named.length === 0) return;
  const rows = await queryRows<{ sport: string }>(
    duck.conn,
    `SELECT DISTINCT sport FROM ${run.binding.rel('declared_sports')} WHERE sport IS NOT NULL
     UNION SELECT DISTINCT sport_type FROM ${run.binding.rel('activities')} WHERE sport_type IS NOT NULL`,
  );
  const unknown = unknownSports(run.rules.rules, rows.map((r) => r.sport));
  if (unknown.length > 0) throw unknownSportsError(run.rules.file, unknown);
}

async function rebuildQuarantine(duck: Duck, tables: readonly SilverTable[], rules: LoadedRules, asOf: Date, runId: string, binding: Binding | undefined): Promise<void> {
  await duck.conn.run('BEGIN TRANSACTION');
  try {
    await duck.conn.run(QUARANTINE_DDL);
    for (const t of quarantineOrder(tables, binding)) for (const sql of quarantineStatements(t, rules.rules, asOf, runId, binding)) await exec(duck.conn, sql);
    await exec(duck.conn, 'COMMIT', 'quarantine: commit');
  } catch (err) {
    await duck.conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Whether the sport-rewards data product can run: every table it binds is in silver. Records the
 * decision in the run (and a check when some, but not all, of its tables are there).
 */
function productRuns(tables: readonly SilverTable[], run: RunState): boolean {
  const names = new Set(tables.map((t) => t.name));
  const missing = ROLES.filter((r) => !names.has(run.binding.tables[r]));
  if (missing.length === 0) {
    run.products.push({ name: PRODUCT_NAME, status: 'ran', source: `${run.binding.namespace}.${run.binding.schema}` });
    return true;
  }
  const reason = `silver has no ${missing.map((r) => `${run.binding.namespace}.${run.binding.schema}.${r}`).join(', ')}`;
  run.products.push({ name: PRODUCT_NAME, status: 'skipped', source: `${run.binding.namespace}.${run.binding.schema}`, reason });
  if (missing.length < ROLES.length) {
    run.results.push(
      metricResult({
        id: `product.${PRODUCT_NAME}.bound_tables`,
        model: `product.${PRODUCT_NAME}`,
        type: 'schema',
        severity: 'warn',
        description: 'every source table the data product binds is in silver',
        status: 'fail',
        observed: `${PRODUCT_NAME} not run: ${reason}`,
      }),
    );
  }
  return false;
}

async function buildGold(duck: Duck, config: RefreshConfig, lake: LakeStorage, tables: readonly SilverTable[], run: RunState, tmpDir: string, progress: Progress, log: Logger): Promise<void> {
  const conn = duck.conn;
  const aside = asidePath(config.batch.goldDb, run.runId);
  await attachAside(conn, aside);
  const withProduct = run.products.some((p) => p.name === PRODUCT_NAME && p.status === 'ran');
  const ctx: GoldContext = { rules: run.rules.rules, asOf: run.asOf, runId: run.runId, ref: goldRel, bind: run.binding };
  const goldModels = withProduct ? GOLD_MODELS : [];
  try {
    if (withProduct) {
      const buckets = await queryOne<{ lo: number | null; hi: number | null }>(conn, bucketRangeSql(run.binding));
      for (const sql of stagingStatements(ctx, buckets ?? null)) await exec(conn, sql, 'gold: staging valid activities', progress.duck);
      for (const model of goldModels) {
        await exec(conn, `CREATE TABLE ${goldRel(model.name)} AS ${model.sql(ctx)}`, `gold ${model.name}`, progress.duck);
      }
    }

    const results = await progress.step('quality suite', async () => {
      const models = [
        ...tables.flatMap((t) => silverModels(t, withProduct ? run.binding : undefined)),
        QUARANTINE_MODEL,
        ...goldModels.map((m) => ({
          name: `gold.${m.name}`,
          relation: goldRel(m.name),
          key: m.key,
          columns: m.columns.map((c) => ({ ...c, tests: c.tests ? (resolveRefs({ c: c.tests }, run.binding).c ?? []) : undefined })),
          tests: m.tests,
        })),
      ];
      const out: QualityResult[] = [];
      out.push(...(await runCompiledTests(conn, models.flatMap(compileModelTests))));
      out.push(...(await silverRowChecks(conn, tables, run.schemaChanges)));
      out.push(...(await layerReconciliation(conn, tables, goldRel, withProduct ? run.binding : undefined)));
      if (config.batch.reconcileSource) out.push(...(await sourceReconciliation(config, conn, tables)));
      out.push(...(await freshnessChecks(conn, tables, run.asOf, run.rules.rules)));
      if (withProduct) {
        out.push(await volumeCheck(conn, run.asOf, run.rules.rules));
        const costs = await queryOne<{ bonus: number; wellbeing: number }>(
          conn,
          `SELECT (SELECT coalesce(sum(bonus_amount_eur), 0)::DOUBLE FROM ${goldRel('sport_bonus')}) AS bonus,
             (SELECT coalesce(sum(wellbeing_cost_eur), 0)::DOUBLE FROM ${goldRel('wellbeing_days')}) AS wellbeing`,
        );
        run.costs = { bonusCostEur: costs?.bonus ?? 0, wellbeingCostEur: costs?.wellbeing ?? 0 };
        out.push(await costDriftCheck(conn, run.costs, run.rules.hash, run.rules.rules));
        out.push(await rulesChangeDriftCheck(conn, run.costs.bonusCostEur, run.rules.hash, run.rules.rules, run.acceptDrift));
      }
      return out;
    });
    run.results.push(...results);
    await countRows(duck, tables, run, goldModels.map((m) => m.name));

    const summary = summarize(run.results);
    if (hasBlockingFailure(run.results)) {
      run.status = 'failed_quality';
      run.error = `error-level quality checks failed: ${summary.errors.join(', ')}`;
      log.error({ runId: run.runId, failed: summary.errors }, 'quality suite failed: gold not swapped, the previous gold stays');
      await discardAside(conn, aside);
      return;
    }

    await conn.run(qualityResultsDdl(goldRel('quality_results')));
    const insert = insertResultsSql(goldRel('quality_results'), run.runId, new Date(), run.results);
    if (insert) await conn.run(insert);
    await conn.run(runLogDdl(goldRel('run_log')));
    await conn.run(`INSERT INTO ${goldRel('run_log')} SELECT * FROM meta.run_log`);
    run.entry = entryOf(run, new Date());
    await conn.run(insertRunLogSql(goldRel('run_log'), run.entry));
    await conn.run(
      `CREATE TABLE ${goldRel('build_info')} AS SELECT ${literal(run.runId)} AS run_id, now() AS built_at, ${literal(run.rules.rules.version)} AS rules_version,
        ${literal(run.rules.hash)} AS params_hash, ${literal(run.rules.canonical)}::JSON AS params, TIMESTAMPTZ ${literal(run.asOf.toISOString())} AS as_of,
        ${literal(JSON.stringify(run.rowCounts))}::JSON AS row_counts, ${literal(JSON.stringify(run.products))}::JSON AS data_products,
        ${run.completeThrough ? `TIMESTAMPTZ ${literal(run.completeThrough.at.toISOString())}` : 'NULL::TIMESTAMPTZ'} AS complete_through,
        ${run.completeThrough ? literal(run.completeThrough.lsn) : 'NULL'}::VARCHAR AS complete_through_lsn`,
    );
    await createViews(conn, SILVER, withProduct);

    const parquetDir = path.join(tmpDir, 'gold-parquet');
    await mkdir(parquetDir, { recursive: true });
    const goldTables = [...goldModels.map((m) => m.name), 'quality_results', 'run_log', 'build_info'];
    const parquet = await exportParquet(conn, goldTables, parquetDir);

    if (run.publish) {
      const settings = run.publish;
      const relations: PublishedRelation[] = publishedRelations(goldModels, withProduct);
      const t0 = performance.now();
      const outcome = await progress.step(`publishing gold to PostgreSQL (${settings.database}.${settings.schema})`, () =>
        publishGold(conn, GOLD_NEXT, relations, settings, path.join(tmpDir, 'gold-pg')).catch((err: unknown) => {
          throw new Error(`publishing gold to PostgreSQL ${settings.database}.${settings.schema} failed (gold.duckdb not swapped either): ${(err as Error).message}`, { cause: err });
        }),
      );
      run.published = { database: settings.database, schema: settings.schema, relations: outcome.relations.length, rows: outcome.rows, seconds: (performance.now() - t0) / 1000 };
      log.info({ runId: run.runId, ...run.published, exportMs: Math.round(outcome.exportMs), loadMs: Math.round(outcome.loadMs) }, 'gold published to PostgreSQL');
    }
    await progress.step('swapping gold.duckdb', () => swapIn(conn, aside, config.batch.goldDb));
    log.info({ runId: run.runId, goldDb: config.batch.goldDb }, 'gold swapped in');
    await progress.step('publishing gold Parquet', () =>
      publishParquet(lake, parquet, { runId: run.runId, builtAt: new Date().toISOString(), rulesVersion: run.rules.rules.version, paramsHash: run.rules.hash }, (p) => readFile(p)),
    );
  } catch (err) {
    await discardAside(conn, aside);
    throw err;
  }
}

async function countRows(duck: Duck, tables: readonly SilverTable[], run: RunState, goldTables: readonly string[]): Promise<void> {
  const parts = [
    ...tables.map((t) => `SELECT ${literal(`silver.${t.name}`)} AS t, count(*) AS n FROM silver.${ident(t.name)}`),
    ...tables.filter((t) => t.history).map((t) => `SELECT ${literal(`silver.${t.name}_history`)} AS t, count(*) AS n FROM silver.${ident(`${t.name}_history`)}`),
    `SELECT 'silver.quarantine' AS t, count(*) AS n FROM silver.quarantine`,
    ...goldTables.map((m) => `SELECT 'gold.${m}' AS t, count(*) AS n FROM ${goldRel(m)}`),
  ];
  const rows = await queryRows<{ t: string; n: number }>(duck.conn, parts.join(' UNION ALL '));
  run.rowCounts = Object.fromEntries(rows.map((r) => [r.t, r.n]));
}

function entryOf(run: RunState, finishedAt: Date): RunLogEntry {
  return {
    runId: run.runId,
    batch: run.batch,
    status: run.status,
    mode: run.mode,
    startedAt: run.startedAt,
    finishedAt,
    asOf: run.asOf,
    rulesFile: run.rules.file,
    rulesVersion: run.rules.rules.version,
    paramsHash: run.rules.hash,
    // The canonical JSON (sorted keys) the hash was computed on.
    params: JSON.parse(run.rules.canonical) as RunLogEntry['params'],
    bronzeInputs: bronzeInputRanges(run.files),
    rowCounts: run.rowCounts,
    quality: summarize(run.results),
    bonusCostEur: run.status === 'success' ? (run.costs?.bonusCostEur ?? null) : null,
    wellbeingCostEur: run.status === 'success' ? (run.costs?.wellbeingCostEur ?? null) : null,
    goldDb: run.config.batch.goldDb,
    reportFile: run.reportFile,
    error: run.error,
    trigger: run.trigger,
    attempt: run.attempt,
    retryOf: run.retryOf,
    completeThrough: run.completeThrough,
    published: run.status === 'success' ? run.published : null,
  };
}

/** The later of two watermarks (null when both are). */
function newest(a: Completeness | null, b: Completeness | null): Completeness | null {
  if (!a) return b;
  if (!b) return a;
  return a.at >= b.at ? a : b;
}

/**
 * The watermark of the last successful run of this silver (null when none had one). Silver is
 * cumulative (a --full rebuild reads all of bronze), so a run that cannot establish a newer
 * watermark is still complete through this one.
 */
async function previousCompleteness(duck: Duck): Promise<Completeness | null> {
  const row = await queryOne<{ c: string | null }>(
    duck.conn,
    `SELECT completeness::VARCHAR AS c FROM meta.run_log WHERE status = 'success' AND completeness IS NOT NULL ORDER BY complete_through DESC LIMIT 1`,
  );
  if (!row?.c) return null;
  const c = JSON.parse(row.c) as { at: string; lsn: string; partitions: number };
  return { at: new Date(c.at), lsn: c.lsn, partitions: c.partitions };
}

/** Appends run_log (table + JSON line), stores the quality results and writes the report. */
async function finishRun(duck: Duck, run: RunState): Promise<void> {
  const finishedAt = new Date();
  run.entry = entryOf(run, finishedAt);
  await mkdir(path.dirname(run.reportFile), { recursive: true });
  const reportText = encodeQualityReport({ runId: run.runId, status: run.status, finishedAt, summary: run.entry.quality, results: run.results, runLog: run.entry });
  await writeFile(run.reportFile, reportText);
  await writeFile(path.join(path.dirname(run.reportFile), 'latest.json'), reportText);
  try {
    await duck.conn.run(`USE ${SILVER}`);
    const insert = insertResultsSql('meta.quality_results', run.runId, finishedAt, run.results);
    if (insert) await duck.conn.run(insert);
    await duck.conn.run(insertRunLogSql('meta.run_log', run.entry));
    await duck.conn.run(`CHECKPOINT ${SILVER}`);
  } finally {
    await appendRunLogLine(run.config.batch.runLogFile, run.entry);
  }
}

