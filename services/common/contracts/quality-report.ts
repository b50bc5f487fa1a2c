/**
 * Contract: the quality report of a batch run, a JSON document written by the batch as
 * `BATCH_REPORT_DIR/<runId>.json` and copied to `BATCH_REPORT_DIR/latest.json` (services/batch/
 * README.md, "Quality suite"); the monitor and `lakehouse status` read `latest.json` through this
 * module only. The same check results go to meta.quality_results and gold's quality_results.
 *
 * - Schema: {@link qualityReportSchema} (and {@link qualityResultSchema}, one check's outcome).
 * - Reader: {@link parseQualityReport}. Writer: {@link encodeQualityReport}.
 */
import { z } from 'zod';
import { readJsonContract, toJsonContract } from './contract-error.ts';
import { isoTimestamp, qualitySummarySchema, runLogEntrySchema, runStatusSchema } from './run-log.ts';

/** A failed check of severity "error" stops the run before gold is swapped in; "warn" is reported only. */
export const severitySchema = z.enum(['error', 'warn']);
export type Severity = z.output<typeof severitySchema>;

export const checkStatusSchema = z.enum(['pass', 'fail', 'skipped']);
export type CheckStatus = z.output<typeof checkStatusSchema>;

/** The outcome of one check. */
export const qualityResultSchema = z.object({
  /** Stable id, e.g. `gold.sport_bonus.employee_id.unique`. */
  id: z.string().min(1),
  /** Model tested, e.g. `silver.activities`. */
  model: z.string(),
  column: z.string().nullable(),
  /** Test type: not_null, unique, relationships, accepted_values, accepted_range, expression, freshness, volume_anomaly, cost_drift... */
  type: z.string().min(1),
  severity: severitySchema,
  status: checkStatusSchema,
  /** Failing rows (row tests) or 1 for a failed metric check. */
  failures: z.number().int().min(0),
  description: z.string(),
  /** What was measured and against what, for metric checks (freshness, volume, drift...). */
  observed: z.string().nullable(),
  /** Up to 5 failing rows as JSON text (key columns and the tested column only). */
  sample: z.string().nullable(),
});
export type QualityResult = z.output<typeof qualityResultSchema>;

/** The report of one run. */
export const qualityReportSchema = z.object({
  runId: z.string().min(1),
  status: runStatusSchema,
  finishedAt: isoTimestamp,
  summary: qualitySummarySchema,
  /** Every check result, in suite order. */
  results: z.array(qualityResultSchema),
  /** The run's run_log record (the rules in force are its `params`). */
  runLog: runLogEntrySchema,
});
export type QualityReport = z.output<typeof qualityReportSchema>;

const CONTRACT = 'quality report';

/**
 * Reader: a report file's text.
 * @throws ContractError naming every missing field or unknown value.
 */
export function parseQualityReport(text: string): QualityReport {
  return readJsonContract(CONTRACT, qualityReportSchema, text);
}

/**
 * Writer: the report as indented JSON text with a trailing newline.
 * @throws ContractError for a report the reader would reject.
 */
export function encodeQualityReport(report: QualityReport): string {
  return `${JSON.stringify(toJsonContract(CONTRACT, qualityReportSchema, report), null, 2)}\n`;
}
