/**
 * Where the batch stores its run_log records (the record itself is the contract of
 * services/common/contracts/run-log.ts): a row of the silver database's meta.run_log (copied into
 * gold's run_log, view v_run_log), and one JSON line appended to BATCH_RUN_LOG.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { bronzeInputTotals, encodeRunLogLine, type BronzeInputRange, type RunLogEntry } from '../common/contracts/run-log.ts';
import { literal } from './sql.ts';

/**
 * Columns added with the orchestrated refresh (issue 17), last so that a run_log table created
 * before them gets them appended by {@link runLogDdl} in the same order.
 */
const ORCHESTRATION_COLUMNS: readonly (readonly [string, string])[] = [
  ['trigger', 'VARCHAR'],
  ['attempt', 'INTEGER'],
  ['retry_of', 'VARCHAR'],
  ['complete_through', 'TIMESTAMPTZ'],
  ['completeness', 'JSON'],
  ['published', 'JSON'],
];

/** Columns of run_log (silver meta.run_log and gold run_log). */
export const RUN_LOG_COLUMNS = `run_id VARCHAR, batch INTEGER, status VARCHAR, mode VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
  duration_s DOUBLE, as_of TIMESTAMPTZ, rules_file VARCHAR, rules_version VARCHAR, params_hash VARCHAR, params JSON,
  bronze_files INTEGER, bronze_events BIGINT, bronze_inputs JSON, row_counts JSON, quality_checks INTEGER,
  quality_errors INTEGER, quality_warnings INTEGER, quality JSON, bonus_cost_eur DECIMAL(14,2), wellbeing_cost_eur DECIMAL(14,2),
  gold_db VARCHAR, report_file VARCHAR, error VARCHAR, ${ORCHESTRATION_COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')}`;


/** Creates run_log `relation`, or adds the columns it lacks (a table of an earlier version). */
export function runLogDdl(relation: string): string {
  return [`CREATE TABLE IF NOT EXISTS ${relation} (${RUN_LOG_COLUMNS})`, ...ORCHESTRATION_COLUMNS.map(([n, t]) => `ALTER TABLE ${relation} ADD COLUMN IF NOT EXISTS ${n} ${t}`)].join(';\n');
}

const ts = (d: Date) => `TIMESTAMPTZ ${literal(d.toISOString())}`;
const text = (s: string | null) => (s === null ? 'NULL' : literal(s));
const num = (n: number | null) => (n === null || !Number.isFinite(n) ? 'NULL' : String(n));

/** INSERT of one entry into `relation`. Pure. */
export function insertRunLogSql(relation: string, e: RunLogEntry): string {
  const { files, events } = bronzeInputTotals(e);
  return `INSERT INTO ${relation} VALUES (${literal(e.runId)}, ${e.batch}, ${literal(e.status)}, ${literal(e.mode)}, ${ts(e.startedAt)}, ${ts(e.finishedAt)},
    ${(e.finishedAt.getTime() - e.startedAt.getTime()) / 1000}, ${ts(e.asOf)}, ${literal(e.rulesFile)}, ${literal(e.rulesVersion)}, ${literal(e.paramsHash)},
    ${literal(JSON.stringify(e.params))}, ${files}, ${events}, ${literal(JSON.stringify(e.bronzeInputs))}, ${literal(JSON.stringify(e.rowCounts))},
    ${e.quality.checks}, ${e.quality.errors.length}, ${e.quality.warnings.length}, ${literal(JSON.stringify(e.quality))},
    ${num(e.bonusCostEur)}, ${num(e.wellbeingCostEur)}, ${literal(e.goldDb)}, ${text(e.reportFile)}, ${text(e.error)},
    ${literal(e.trigger)}, ${e.attempt}, ${text(e.retryOf)}, ${e.completeThrough ? ts(e.completeThrough.at) : 'NULL'},
    ${e.completeThrough ? literal(JSON.stringify({ at: e.completeThrough.at.toISOString(), lsn: e.completeThrough.lsn, partitions: e.completeThrough.partitions })) : 'NULL'},
    ${e.published ? literal(JSON.stringify(e.published)) : 'NULL'})`;
}

/** Appends `entry` as one JSON line to `file` (created with its directory when missing). @throws ContractError for an invalid entry. */
export async function appendRunLogLine(file: string, entry: RunLogEntry): Promise<void> {
  const line = encodeRunLogLine(entry);
  await mkdir(path.dirname(file), { recursive: true });
  await appendFile(file, line);
}

/**
 * Groups files into per-partition offset ranges. Files of one partition that do not follow each
 * other (a gap) still share one entry: the range is from the smallest first offset to the largest
 * last offset, and `files` lists exactly what was read.
 */
export function bronzeInputRanges(files: readonly { key: string; topic: string; partition: number; firstOffset: number; lastOffset: number; rows: number }[]): BronzeInputRange[] {
  const groups = new Map<string, BronzeInputRange>();
  for (const f of [...files].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.firstOffset - b.firstOffset))) {
    const id = `${f.topic}\u0000${f.partition}`;
    const g = groups.get(id);
    if (!g) groups.set(id, { topic: f.topic, partition: f.partition, firstOffset: f.firstOffset, lastOffset: f.lastOffset, events: f.rows, files: [f.key] });
    else {
      g.firstOffset = Math.min(g.firstOffset, f.firstOffset);
      g.lastOffset = Math.max(g.lastOffset, f.lastOffset);
      g.events += f.rows;
      g.files.push(f.key);
    }
  }
  return [...groups.values()];
}
