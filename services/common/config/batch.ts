/**
 * Configuration of the batch job's files (services/batch/README.md): the batch writes them, the
 * monitor and `lakehouse status` read them. Relative paths are from the repository root.
 */
import path from 'node:path';
import { z } from 'zod';
import { defineBlock, variable } from './define.ts';
import { bool, fromRepoRoot, nonEmpty } from './shared.ts';

/** Where the batch keeps its state, run log, reports and gold (read by the monitor and the status too). */
export const batchFilesBlock = defineBlock({
  title: 'Batch job files (run log, quality reports, gold)',
  fields: {
    batch: {
      stateDir: variable('BATCH_STATE_DIR', nonEmpty.default('data/batch').transform(fromRepoRoot), 'Batch state: silver-state.duckdb, run_log.jsonl, reports/, tmp/.'),
      silverDb: variable('BATCH_SILVER_DB', z.string().trim().min(1).transform(fromRepoRoot).optional(), 'Silver current state, history, quarantine and run_log table; default <BATCH_STATE_DIR>/silver-state.duckdb.'),
      goldDb: variable('BATCH_GOLD_DB', nonEmpty.default('data/gold.duckdb').transform(fromRepoRoot), 'What Power BI reads; rebuilt aside and swapped in atomically.'),
      runLogFile: variable('BATCH_RUN_LOG', z.string().trim().min(1).transform(fromRepoRoot).optional(), 'Append-only JSON lines, one per run (failed runs too); default <BATCH_STATE_DIR>/run_log.jsonl.'),
      reportDir: variable('BATCH_REPORT_DIR', z.string().trim().min(1).transform(fromRepoRoot).optional(), 'Quality reports <runId>.json and latest.json; default <BATCH_STATE_DIR>/reports.'),
    },
  },
  finish: ({ batch: b }) => ({
    batch: {
      stateDir: b.stateDir,
      silverDb: b.silverDb ?? path.join(b.stateDir, 'silver-state.duckdb'),
      goldDb: b.goldDb,
      runLogFile: b.runLogFile ?? path.join(b.stateDir, 'run_log.jsonl'),
      reportDir: b.reportDir ?? path.join(b.stateDir, 'reports'),
    },
  }),
});

/**
 * The sport-rewards data product's rules file: the batch builds gold with it, the Slack notifier
 * checks each activity against the same validity rules before announcing it.
 */
export const productRulesBlock = defineBlock({
  title: 'Sport-rewards data product: rules file (batch and Slack notifier)',
  fields: {
    batch: {
      rulesFile: variable('BATCH_RULES_FILE', nonEmpty.default('products/sport-rewards/rules.json').transform(fromRepoRoot), 'Versioned business rules and quality thresholds of the sport-rewards data product (the Slack notifier reads its activity validity rules too).'),
    },
  },
});

/** How the refresh runs (read by the batch only). */
export const batchRunBlock = defineBlock({
  title: 'Batch job (`npm run refresh`): bronze -> silver -> gold (DuckDB)',
  fields: {
    batch: {
      threads: variable('BATCH_THREADS', z.coerce.number().int().min(1).max(256).optional(), "DuckDB worker threads; default DuckDB's (one per core)."),
      memoryLimit: variable(
        'BATCH_MEMORY_LIMIT',
        z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size such as "4GB"').optional(),
        "DuckDB memory_limit, e.g. 4GB; default DuckDB's (80 % of RAM); spills to <BATCH_STATE_DIR>/tmp.",
      ),
      downloadConcurrency: variable('BATCH_DOWNLOAD_CONCURRENCY', z.coerce.number().int().min(1).max(64).default(8), 'Parallel downloads of bronze objects from an s3:// lake.'),
      reconcileSource: variable('BATCH_RECONCILE_SOURCE', bool.default(false), "true: also compare silver row counts with PostgreSQL's tables (CDC_DB_USER's SELECT)."),
    },
  },
});
