/**
 * The data-quality suite, declared next to each model as dbt declares its tests
 * (https://docs.getdbt.com/docs/build/data-tests: not_null, unique, relationships, accepted_values,
 * plus dbt-utils' accepted_range and expression tests), compiled to SQL here, and the checks that
 * look beyond one model: reconciliation, freshness, volume anomaly and cost drift.
 *
 * Every check yields one {@link QualityResult}. A failed check of severity "error" stops the run
 * before gold is swapped in (the previous gold stays); "warn" is reported only. Results go to
 * meta.quality_results (every run, failed ones too), gold's quality_results table, and a JSON
 * report. The compilers are pure; {@link runCompiledTest} executes one.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CheckStatus, QualityResult, Severity } from '../common/contracts/quality-report.ts';
import type { QualitySummary } from '../common/contracts/run-log.ts';
import { profileEnd, profileStart, queryOne } from './duck.ts';
import { ident, literal } from './sql.ts';


/** Column-level tests (dbt's generic tests). `where` restricts the rows tested (SQL predicate). */
export type ColumnTest =
  | { test: 'not_null'; severity?: Severity; where?: string }
  | { test: 'unique'; severity?: Severity }
  | { test: 'relationships'; to: string; field: string; severity?: Severity; where?: string }
  | { test: 'accepted_values'; values: readonly (string | number | boolean)[]; severity?: Severity }
  | { test: 'accepted_range'; min?: number; max?: number; severity?: Severity; where?: string };

/** Model-level tests: failing rows are those matching `failing` (dbt-utils' expression_is_true, negated). */
export type ModelTest =
  | { test: 'expression'; name: string; description: string; failing: string; severity?: Severity; show?: readonly string[] }
  | { test: 'unique_combination'; columns: readonly string[]; severity?: Severity };

export interface ModelColumn {
  name: string;
  /** What the column holds, with its unit where it has one. */
  description: string;
  tests?: readonly ColumnTest[];
}

/** What the suite needs to know about a model (a silver table or view, or a gold table). */
export interface TestedModel {
  /** Name used in results, e.g. `silver.activities` or `gold.sport_bonus`. */
  name: string;
  /** SQL relation the tests read, e.g. `silver.activities` or `gold_next.main.sport_bonus`. */
  relation: string;
  /** Columns identifying a row, shown in failure samples. */
  key: readonly string[];
  columns: readonly ModelColumn[];
  tests?: readonly ModelTest[];
}

/** One compiled check, ready to run. */
export interface CompiledTest {
  /** Stable id, e.g. `gold.sport_bonus.employee_id.unique`. */
  id: string;
  model: string;
  column: string | null;
  type: string;
  severity: Severity;
  description: string;
  /** SELECT of the failing rows (sample columns only). */
  failingSql: string;
  /** For `unique`: relation and column, for the bitmap fast path of {@link runCompiledTest}. */
  uniqueOn?: { relation: string; column: string };
  /**
   * For tests whose failing rows are "rows of `relation` matching `predicate`" (not_null,
   * accepted_values, accepted_range, expression): lets {@link runCompiledTests} count the
   * failures of every such test of one relation in a single scan.
   */
  rowCheck?: { relation: string; predicate: string };
}


function sqlValue(v: string | number | boolean): string {
  return typeof v === 'string' ? literal(v) : String(v);
}

function and(...preds: (string | undefined)[]): string {
  const p = preds.filter((x): x is string => !!x);
  return p.length ? p.map((x) => `(${x})`).join(' AND ') : 'true';
}

/** Compiles every test declared on `model`. */
export function compileModelTests(model: TestedModel): CompiledTest[] {
  const out: CompiledTest[] = [];
  const rel = model.relation;
  const keyCols = (extra: string[] = []) => [...new Set([...model.key, ...extra])].map(ident).join(', ');
  for (const column of model.columns) {
    const c = ident(column.name);
    for (const t of column.tests ?? []) {
      const base = { model: model.name, column: column.name, type: t.test, severity: t.severity ?? 'error' };
      const id = `${model.name}.${column.name}.${t.test}`;
      switch (t.test) {
        case 'not_null': {
          const predicate = and(`${c} IS NULL`, t.where);
          out.push({
            ...base,
            id,
            description: `${column.name} is never NULL${t.where ? ` where ${t.where}` : ''}`,
            failingSql: `SELECT ${keyCols([column.name])} FROM ${rel} WHERE ${predicate}`,
            rowCheck: { relation: rel, predicate },
          });
          break;
        }
        case 'unique':
          out.push({
            ...base,
            id,
            description: `${column.name} is unique`,
            failingSql: `SELECT ${c}, count(*) AS occurrences FROM ${rel} WHERE ${c} IS NOT NULL GROUP BY ${c} HAVING count(*) > 1`,
            uniqueOn: { relation: rel, column: column.name },
          });
          break;
        case 'relationships':
          out.push({
            ...base,
            id,
            description: `every ${column.name} exists in ${t.to}.${t.field}`,
            failingSql: `SELECT ${keyCols([column.name]).split(', ').map((k) => `c.${k}`).join(', ')} FROM ${rel} c ANTI JOIN ${t.to} p ON c.${c} = p.${ident(t.field)} WHERE ${and(`c.${c} IS NOT NULL`, t.where)}`,
          });
          break;
        case 'accepted_values': {
          const predicate = `${c} IS NOT NULL AND ${c} NOT IN (${t.values.map(sqlValue).join(', ')})`;
          out.push({
            ...base,
            id,
            description: `${column.name} is one of ${t.values.map((v) => JSON.stringify(v)).join(', ')}`,
            failingSql: `SELECT ${keyCols([column.name])} FROM ${rel} WHERE ${predicate}`,
            rowCheck: { relation: rel, predicate },
          });
          break;
        }
        case 'accepted_range': {
          const bounds = [t.min !== undefined ? `${c} < ${t.min}` : undefined, t.max !== undefined ? `${c} > ${t.max}` : undefined].filter(Boolean).join(' OR ');
          const predicate = and(bounds || 'false', t.where);
          out.push({
            ...base,
            id,
            description: `${column.name} within [${t.min ?? '-inf'}, ${t.max ?? '+inf'}]${t.where ? ` where ${t.where}` : ''}`,
            failingSql: `SELECT ${keyCols([column.name])} FROM ${rel} WHERE ${predicate}`,
            rowCheck: { relation: rel, predicate },
          });
          break;
        }
      }
    }
  }
  for (const t of model.tests ?? []) {
    if (t.test === 'expression') {
      out.push({
        id: `${model.name}.${t.name}`,
        model: model.name,
        column: null,
        type: 'expression',
        severity: t.severity ?? 'error',
        description: t.description,
        failingSql: `SELECT ${keyCols([...(t.show ?? [])])} FROM ${rel} WHERE ${t.failing}`,
        rowCheck: { relation: rel, predicate: `(${t.failing})` },
      });
    } else {
      const cols = t.columns.map(ident).join(', ');
      out.push({
        id: `${model.name}.${t.columns.join('+')}.unique_combination`,
        model: model.name,
        column: t.columns.join(', '),
        type: 'unique_combination',
        severity: t.severity ?? 'error',
        description: `(${t.columns.join(', ')}) is unique`,
        failingSql: `SELECT ${cols}, count(*) AS occurrences FROM ${rel} GROUP BY ${cols} HAVING count(*) > 1`,
      });
    }
  }
  return out;
}

/**
 * SQL counting the failing rows of `test`. (A plain count runs on every DuckDB thread; the former
 * single statement that also sampled, through a MATERIALIZED CTE, ran on one.)
 */
export function countingSql(test: CompiledTest): string {
  return `SELECT count(*) AS failures FROM (${test.failingSql})`;
}

/** SQL sampling up to 5 failing rows of `test` as JSON text (run only when some fail). */
export function sampleSql(test: CompiledTest): string {
  return `SELECT CAST(to_json(list(f)) AS VARCHAR) AS sample FROM (SELECT * FROM (${test.failingSql}) LIMIT 5) f`;
}

/**
 * True when the integer column `uniqueOn` is shown unique by a bitmap over its value range
 * (DuckDB's bitstring_agg: one linear pass, no hash table); false when it is not or cannot be
 * shown that way (not an integer, or a range wider than 2^28).
 */
async function uniqueByBitmap(conn: DuckDBConnection, on: { relation: string; column: string }): Promise<boolean> {
  const c = ident(on.column);
  const r = await queryOne<{ lo: unknown; hi: unknown; n: number; t: string | null }>(conn, `SELECT min(${c}) AS lo, max(${c}) AS hi, count(${c}) AS n, typeof(min(${c})) AS t FROM ${on.relation}`);
  if (!r || r.n === 0) return true;
  if (!r.t || !['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT'].includes(r.t) || typeof r.lo !== 'number' || typeof r.hi !== 'number' || r.hi - r.lo >= 2 ** 28) return false;
  const d = await queryOne<{ d: number }>(conn, `SELECT bit_count(bitstring_agg(${c}, ${r.lo}, ${r.hi})) AS d FROM ${on.relation}`);
  return d?.d === r.n;
}

/** Runs one compiled test. A test whose SQL fails is itself a failed check (its error as `observed`). */
export async function runCompiledTest(conn: DuckDBConnection, test: CompiledTest): Promise<QualityResult> {
  const base = { id: test.id, model: test.model, column: test.column, type: test.type, severity: test.severity, description: test.description };
  const started = profileStart();
  try {
    // The group-by of a unique test is costly on millions of rows; a bitmap proves the common case.
    if (test.uniqueOn && (await uniqueByBitmap(conn, test.uniqueOn))) return { ...base, status: 'pass', failures: 0, observed: null, sample: null };
    const failures = (await queryOne<{ failures: number }>(conn, countingSql(test)))?.failures ?? 0;
    const sample = failures > 0 ? ((await queryOne<{ sample: string | null }>(conn, sampleSql(test)))?.sample ?? null) : null;
    profileEnd(started, `test ${test.id}`);
    return { ...base, status: failures > 0 ? 'fail' : 'pass', failures, observed: null, sample };
  } catch (err) {
    return { ...base, status: 'fail', failures: 1, observed: `check could not run: ${(err as Error).message.split('\n')[0]}`, sample: null };
  }
}

/**
 * SELECT counting, in one scan of `relation`, the rows matching each test's `rowCheck.predicate`
 * (columns f0, f1, ... in the order of `tests`). A NULL predicate counts as not failing, as in
 * the test's own WHERE. The WHERE repeats the predicates so that DuckDB can still drop the scan
 * when table statistics prove every one of them false (no NULLs, minimum above the range...),
 * as it does for a test run on its own.
 */
export function combinedCountSql(relation: string, tests: readonly CompiledTest[]): string {
  const predicates = tests.map((t) => t.rowCheck!.predicate);
  return `SELECT ${predicates.map((p, i) => `count(*) FILTER (WHERE ${p}) AS f${i}`).join(',\n  ')}
FROM ${relation}
WHERE ${predicates.map((p) => `(${p})`).join('\n  OR ')}`;
}

/**
 * Runs `tests` and returns their results in the same order. Row tests (see
 * {@link CompiledTest.rowCheck}) of the same relation are counted together in one scan
 * ({@link combinedCountSql}); only those that fail are run again on their own, for their sample of
 * failing rows. Any other test, or a group whose combined query fails (a test whose SQL does not
 * bind), runs through {@link runCompiledTest}, so a broken test is reported as its own failure.
 * (A quality suite over ~90 declared tests otherwise costs one statement each; the 10M-row
 * silver relations get scanned once instead of once per test.)
 */
export async function runCompiledTests(conn: DuckDBConnection, tests: readonly CompiledTest[]): Promise<QualityResult[]> {
  const results = new Array<QualityResult>(tests.length);
  const byRelation = new Map<string, number[]>();
  tests.forEach((t, i) => {
    if (!t.rowCheck) return;
    byRelation.set(t.rowCheck.relation, [...(byRelation.get(t.rowCheck.relation) ?? []), i]);
  });
  for (const [relation, indexes] of byRelation) {
    if (indexes.length < 2) continue;
    const started = profileStart();
    let counts: Record<string, unknown> | undefined;
    try {
      counts = await queryOne(conn, combinedCountSql(relation, indexes.map((i) => tests[i]!)));
    } catch {
      continue; // each test of the group runs on its own below
    }
    profileEnd(started, `tests of ${relation} (${indexes.length}, one scan)`);
    for (const [k, i] of indexes.entries()) {
      const failures = Number(counts?.[`f${k}`] ?? 0);
      const t = tests[i]!;
      if (failures === 0) {
        results[i] = { id: t.id, model: t.model, column: t.column, type: t.type, severity: t.severity, description: t.description, status: 'pass', failures: 0, observed: null, sample: null };
      }
    }
  }
  for (const [i, t] of tests.entries()) if (!results[i]) results[i] = await runCompiledTest(conn, t);
  return results;
}

/** A metric check's result (reconciliation, freshness, volume, drift, rule totals). */
export function metricResult(
  fields: Pick<QualityResult, 'id' | 'model' | 'type' | 'severity' | 'description'> & { status: CheckStatus; observed: string; column?: string | null; sample?: unknown },
): QualityResult {
  return {
    id: fields.id,
    model: fields.model,
    column: fields.column ?? null,
    type: fields.type,
    severity: fields.severity,
    status: fields.status,
    failures: fields.status === 'fail' ? 1 : 0,
    description: fields.description,
    observed: fields.observed,
    sample: fields.sample === undefined ? null : JSON.stringify(fields.sample),
  };
}

/** Volume anomaly verdict on a day's count against its trailing baseline (pure). */
export function volumeVerdict(
  count: number,
  baseline: readonly number[],
  daysWithData: number,
  options: { minHistoryDays: number; maxZScore: number },
): { status: CheckStatus; mean: number; stddev: number; z: number | null } {
  const n = baseline.length;
  const mean = n ? baseline.reduce((a, b) => a + b, 0) / n : 0;
  const stddev = n > 1 ? Math.sqrt(baseline.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  if (daysWithData < options.minHistoryDays) return { status: 'skipped', mean, stddev, z: null };
  if (stddev === 0) return { status: count === mean ? 'pass' : 'fail', mean, stddev, z: count === mean ? 0 : null };
  const z = (count - mean) / stddev;
  return { status: Math.abs(z) > options.maxZScore ? 'fail' : 'pass', mean, stddev, z };
}

/** Cost drift verdict against the previous successful run (pure). */
export function driftVerdict(current: number, previous: number | null, maxPct: number): { status: CheckStatus; pct: number | null } {
  if (previous === null) return { status: 'skipped', pct: null };
  if (previous === 0) return { status: current === 0 ? 'pass' : 'fail', pct: current === 0 ? 0 : null };
  const pct = ((current - previous) / Math.abs(previous)) * 100;
  return { status: Math.abs(pct) > maxPct ? 'fail' : 'pass', pct };
}

/** True when some result is a failed error-level check. */
export function hasBlockingFailure(results: readonly QualityResult[]): boolean {
  return results.some((r) => r.status === 'fail' && r.severity === 'error');
}

/** Counts per severity and status, and the ids of failed checks, for run_log and logs. */
export function summarize(results: readonly QualityResult[]): QualitySummary {
  const failed = results.filter((r) => r.status === 'fail');
  return {
    checks: results.length,
    passed: results.filter((r) => r.status === 'pass').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    errors: failed.filter((r) => r.severity === 'error').map((r) => r.id),
    warnings: failed.filter((r) => r.severity === 'warn').map((r) => r.id),
  };
}

/** DDL of the results table (meta.quality_results in silver, quality_results in gold). */
export function qualityResultsDdl(relation: string): string {
  return `CREATE TABLE IF NOT EXISTS ${relation} (
    run_id VARCHAR, checked_at TIMESTAMPTZ, id VARCHAR, model VARCHAR, "column" VARCHAR, type VARCHAR,
    severity VARCHAR, status VARCHAR, failures BIGINT, description VARCHAR, observed VARCHAR, sample VARCHAR)`;
}

/** INSERT of `results` into `relation` (see {@link qualityResultsDdl}). */
export function insertResultsSql(relation: string, runId: string, checkedAt: Date, results: readonly QualityResult[]): string | undefined {
  if (results.length === 0) return undefined;
  const s = (v: string | null) => (v === null ? 'NULL' : literal(v));
  const rows = results.map(
    (r) =>
      `(${literal(runId)}, TIMESTAMPTZ ${literal(checkedAt.toISOString())}, ${literal(r.id)}, ${literal(r.model)}, ${s(r.column)}, ${literal(r.type)}, ${literal(r.severity)}, ${literal(r.status)}, ${r.failures}, ${literal(r.description)}, ${s(r.observed)}, ${s(r.sample)})`,
  );
  return `INSERT INTO ${relation} VALUES ${rows.join(',\n')}`;
}
