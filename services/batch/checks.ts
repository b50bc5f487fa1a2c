/**
 * The quality checks that look beyond one model (issue 6, "Quality suite"): reconciliation of
 * counts between layers (and optionally against PostgreSQL), freshness of the newest event,
 * daily-volume anomaly against the trailing mean and standard deviation, and cost drift against
 * the previous successful run. Each returns {@link QualityResult}s; thresholds come from the
 * rules file (`quality.*`).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { pgConnection, type RefreshConfig } from '../common/config.ts';
import { queryOne, queryRows } from './duck.ts';
import type { QualityResult } from '../common/contracts/quality-report.ts';
import { driftVerdict, metricResult, volumeVerdict } from './quality.ts';
import type { Rules } from './rules.ts';
import type { SilverTable } from './silver.ts';
import { ident, literal } from './sql.ts';
import type { Binding } from '../../products/sport-rewards/binding.ts';

/** Bronze rows read per file against the rows its manifest announces (error: a truncated or foreign file). */
export function bronzeFileReconciliation(files: readonly { key: string; manifestRows: number; rowsRead: number }[]): QualityResult {
  const bad = files.filter((f) => f.manifestRows !== f.rowsRead);
  return metricResult({
    id: 'bronze.files.rows_match_manifest',
    model: 'bronze',
    type: 'reconciliation',
    severity: 'error',
    description: 'rows read from each bronze file equal the rows its manifest announces',
    status: bad.length ? 'fail' : 'pass',
    observed: `${files.length} files read, ${bad.length} mismatched`,
    sample: bad.length ? bad.slice(0, 5) : undefined,
  });
}

/**
 * Silver rows against quarantine + valid rows (every row is in exactly one of the two), and, when
 * the sport-rewards product ran (`bind`), gold activity totals against its valid activities.
 */
export async function layerReconciliation(conn: DuckDBConnection, tables: readonly SilverTable[], goldRel: (name: string) => string, bind?: Binding): Promise<QualityResult[]> {
  const out: QualityResult[] = [];
  // Counting a `_valid` view is an anti join over the whole table: count each only once.
  const validCounts = new Map<string, number>();
  for (const t of tables) {
    if (t.source.primaryKey.length === 0) continue;
    const r = await queryOne<{ silver: number; valid: number; quarantined: number }>(
      conn,
      `SELECT (SELECT count(*) FROM silver.${ident(t.name)}) AS silver,
         (SELECT count(*) FROM silver.${ident(`${t.name}_valid`)}) AS valid,
         (SELECT count(*) FROM state.${ident(`${t.name}__quarantined`)}) AS quarantined`,
    );
    if (!r) continue;
    validCounts.set(t.name, r.valid);
    out.push(
      metricResult({
        id: `silver.${t.name}.valid_plus_quarantined`,
        model: `silver.${t.name}`,
        type: 'reconciliation',
        severity: 'error',
        description: 'every silver row is either valid or quarantined, exactly once',
        status: r.silver === r.valid + r.quarantined ? 'pass' : 'fail',
        observed: `silver ${r.silver} = valid ${r.valid} + quarantined ${r.quarantined}`,
      }),
    );
  }
  if (!bind) return out;
  const g = await queryOne<{ valid: number; kpi: number; by_sport: number; wb_cost_kpi: number; wb_cost: number }>(
    conn,
    `SELECT ${validCounts.get(bind.tables.activities) ?? `(SELECT count(*) FROM ${bind.rel('activities', '_valid')})`} AS valid,
       (SELECT coalesce(sum(activity_count), 0) FROM ${goldRel('kpi_bu_month')}) AS kpi,
       (SELECT coalesce(sum(activity_count), 0) FROM ${goldRel('activities_by_sport')}) AS by_sport,
       (SELECT coalesce(sum(wellbeing_cost_eur), 0)::DOUBLE FROM ${goldRel('kpi_bu_month')}) AS wb_cost_kpi,
       (SELECT coalesce(sum(wellbeing_cost_eur), 0)::DOUBLE FROM ${goldRel('wellbeing_days')}) AS wb_cost`,
  );
  if (g) {
    out.push(
      metricResult({
        id: 'gold.activity_totals_match_silver',
        model: 'gold',
        type: 'reconciliation',
        severity: 'error',
        description: 'activities counted in kpi_bu_month and activities_by_sport equal the valid silver activities',
        status: g.valid === g.kpi && g.valid === g.by_sport ? 'pass' : 'fail',
        observed: `valid ${g.valid}, kpi_bu_month ${g.kpi}, activities_by_sport ${g.by_sport}`,
      }),
      metricResult({
        id: 'gold.wellbeing_cost_totals_match',
        model: 'gold',
        type: 'reconciliation',
        severity: 'error',
        description: 'well-being cost booked by month equals the cost per employee and year',
        status: Math.abs(g.wb_cost_kpi - g.wb_cost) <= 0.01 ? 'pass' : 'fail',
        observed: `kpi_bu_month ${g.wb_cost_kpi.toFixed(2)} EUR, wellbeing_days ${g.wb_cost.toFixed(2)} EUR`,
      }),
    );
  }
  return out;
}

/** DuckDB types whose text form equals PostgreSQL's `::text` of the source column (booleans mapped). */
const CHECKSUM_TYPES = /^(SMALLINT|INTEGER|BIGINT|VARCHAR|DECIMAL\(\d+,\d+\)|DATE|UUID|BOOLEAN)$/;

/**
 * Silver against the PostgreSQL source, for every table of the source the batch can reach
 * (BATCH_RECONCILE_SOURCE, through the CDC role; warn: CDC lag makes small gaps normal): the live
 * row count, and a checksum: the sum over rows of the first 32 bits of md5 of the row's text,
 * computed in both engines over the columns whose text form is the same in both (integers,
 * text and every type silver keeps as text, DECIMAL, DATE, UUID, BOOLEAN; the others are named
 * in the result). Tables of other sources (another namespace than KAFKA_TOPIC_PREFIX) are skipped.
 */
export async function sourceReconciliation(config: RefreshConfig, conn: DuckDBConnection, tables: readonly SilverTable[]): Promise<QualityResult[]> {
  const client = new pg.Client(pgConnection(config, 'cdc'));
  const out: QualityResult[] = [];
  const own = tables.filter((t) => t.source.source === config.kafka.topicPrefix);
  try {
    await client.connect();
    for (const t of own) {
      // Columns whose text is the same in both engines (integers, text, DECIMAL, DATE, UUID, BOOLEAN);
      // the others (floats, times, intervals, BLOB, JSON, LIST) are left out of the checksum, and named.
      const summed = t.source.columns.filter((c) => CHECKSUM_TYPES.test(c.duckType));
      const skipped = t.source.columns.filter((c) => !CHECKSUM_TYPES.test(c.duckType)).map((c) => c.name);
      const rowText = (engine: 'duckdb' | 'postgres') =>
        summed
          .map((c) => {
            const col = engine === 'duckdb' ? ident(c.name) : pgIdent(c.name);
            const text =
              engine === 'duckdb'
                ? `CAST(${col} AS VARCHAR)`
                : c.duckType === 'BOOLEAN'
                  ? `CASE WHEN ${col} THEN 'true' WHEN NOT ${col} THEN 'false' END`
                  : `${col}::text`;
            return `coalesce(${text}, '\\N')`;
          })
          .join(` || '|' || `);
      // Sum over rows of the first 32 bits of md5(row text): the same function in both engines.
      const silver = await queryOne<{ n: number; h: string | null }>(
        conn,
        `SELECT count(*) AS n, ${summed.length ? `CAST(sum(CAST('0x' || substr(md5(${rowText('duckdb')}), 1, 8) AS BIGINT)) AS VARCHAR)` : 'NULL'} AS h FROM silver.${ident(t.name)}`,
      );
      const res = await client.query<{ n: string; h: string | null }>(
        `SELECT count(*) AS n, ${summed.length ? `sum(('x' || lpad(substr(md5(${rowText('postgres')}), 1, 8), 16, '0'))::bit(64)::bigint)::text` : 'NULL'} AS h
         FROM ${pgIdent(t.source.schema)}.${pgIdent(t.source.table)}`,
      );
      const source = Number(res.rows[0]?.n ?? 0);
      const same = (silver?.h ?? null) === (res.rows[0]?.h ?? null);
      const checksum = summed.length
        ? `checksum of ${summed.length} columns silver ${silver?.h ?? '-'}, source ${res.rows[0]?.h ?? '-'}${skipped.length ? ` (not summed: ${skipped.join(', ')})` : ''}`
        : 'no column of a checksummed type';
      out.push(
        metricResult({
          id: `silver.${t.name}.count_matches_source`,
          model: `silver.${t.name}`,
          type: 'reconciliation',
          severity: 'warn',
          description: `silver row count and row checksum equal PostgreSQL ${t.source.schema}.${t.source.table} (lag makes small gaps normal)`,
          status: (silver?.n ?? 0) === source && same ? 'pass' : 'fail',
          observed: `silver ${silver?.n ?? 0}, source ${source}; ${checksum}`,
        }),
      );
    }
  } catch (err) {
    out.push(
      metricResult({
        id: 'silver.count_matches_source',
        model: 'silver',
        type: 'reconciliation',
        severity: 'warn',
        description: 'silver row counts equal PostgreSQL',
        status: 'fail',
        observed: `source not reachable: ${(err as Error).message}`,
      }),
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  return out;
}

const pgIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** Age of the newest source event (commit time) of each source namespace in silver against `asOf`. */
export async function freshnessChecks(conn: DuckDBConnection, tables: readonly SilverTable[], asOf: Date, rules: Rules): Promise<QualityResult[]> {
  const base = { model: 'silver', type: 'freshness', severity: 'warn' as const, description: `newest source event is at most ${rules.quality.freshnessMaxHours} h old` };
  if (tables.length === 0) return [metricResult({ ...base, id: 'silver.freshness', status: 'skipped', observed: 'no silver table yet' })];
  const out: QualityResult[] = [];
  const sources = [...new Set(tables.map((t) => t.source.source))].sort();
  for (const source of sources) {
    const union = tables.filter((t) => t.source.source === source).map((t) => `SELECT max(_source_ts_ms) AS ts FROM state.${ident(t.name)}`).join(' UNION ALL ');
    const row = await queryOne<{ ts: number | null }>(conn, `SELECT max(ts) AS ts FROM (${union})`);
    const id = sources.length === 1 ? 'silver.freshness' : `silver.freshness.${source}`;
    if (row?.ts == null) {
      out.push(metricResult({ ...base, id, status: 'skipped', observed: `source ${source}: no event yet` }));
      continue;
    }
    const hours = (asOf.getTime() - row.ts) / 3_600_000;
    out.push(
      metricResult({
        ...base,
        id,
        status: hours > rules.quality.freshnessMaxHours ? 'fail' : 'pass',
        observed: `source ${source}: newest event ${new Date(row.ts).toISOString()}, ${hours.toFixed(1)} h before ${asOf.toISOString()} (limit ${rules.quality.freshnessMaxHours} h)`,
      }),
    );
  }
  return out;
}

/**
 * Row-level checks of silver that no source declares: values silver does not hold (`_missing`:
 * undecodable, or unavailable with no previous version; the sample names key and columns),
 * generated columns the log does not carry, and rows last changed before a column was added
 * (an ADD COLUMN default is not in the log). Fixes: docs/runbooks/ops.md.
 */
export async function silverRowChecks(conn: DuckDBConnection, tables: readonly SilverTable[], changes: readonly { table: string; kind: string; column: string }[] = []): Promise<QualityResult[]> {
  const out: QualityResult[] = [];
  for (const t of tables) {
    const rel = `state.${ident(t.name)}`;
    const key = t.source.primaryKey.length ? `to_json(struct_pack(${t.source.primaryKey.map((k) => `${ident(k)} := ${ident(k)}`).join(', ')}))` : `to_json(struct_pack(_lsn := _lsn))`;
    const missing = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${rel} WHERE _missing IS NOT NULL AND _op NOT IN ('d', 't')`);
    const n = missing?.n ?? 0;
    out.push(
      metricResult({
        id: `silver.${t.name}.values_held`,
        model: `silver.${t.name}`,
        type: 'completeness',
        severity: 'warn',
        description: 'silver holds every source value exactly (none undecodable, no unchanged TOAST value without a previous version)',
        status: n > 0 ? 'fail' : 'pass',
        observed: n > 0 ? `${n} rows lack the source value of some columns (NULL in silver, listed in state.${t.name}._missing)` : 'every value held',
        sample: n > 0 ? (await queryRows<{ key: string; columns: string[] }>(conn, `SELECT ${key}::VARCHAR AS key, _missing AS columns FROM ${rel} WHERE _missing IS NOT NULL AND _op NOT IN ('d', 't') ORDER BY ALL LIMIT 5`)).map((r) => ({ table: t.name, key: JSON.parse(r.key), columns: r.columns })) : undefined,
      }),
    );
    if (t.source.primaryKey.length === 0 && t.source.replicaIdentity !== 'full') {
      out.push(
        metricResult({
          id: `silver.${t.name}.keyless_replica_identity`,
          model: `silver.${t.name}`,
          type: 'completeness',
          severity: 'warn',
          description: 'a table without primary key has REPLICA IDENTITY FULL (its updates and deletes carry the whole old row)',
          status: 'fail',
          observed: `replica identity ${t.source.replicaIdentity}: silver cannot match its updates and deletes to rows (npm run lakehouse -- prepare-source sets FULL)`,
        }),
      );
    }
    if (t.source.generatedColumns.length > 0) {
      out.push(
        metricResult({
          id: `silver.${t.name}.generated_columns`,
          model: `silver.${t.name}`,
          type: 'completeness',
          severity: 'warn',
          description: 'every source column is carried by the log',
          status: 'fail',
          observed: `generated columns not carried by logical replication before PostgreSQL 18, absent from silver: ${t.source.generatedColumns.join(', ')} (runbook: docs/runbooks/ops.md, "Columns the log does not carry")`,
        }),
      );
    }
    const added = changes.filter((c) => c.table === t.name && c.kind === 'added').map((c) => c.column);
    const current = await queryOne<{ v: number | null }>(conn, `SELECT version AS v FROM meta.schemas WHERE topic = ${literal(t.topic)} AND schema_id = ${literal(t.source.schemaId)}`);
    if (current?.v != null) {
      // Rows last decoded with an older version than the current one may lack a column added since.
      const docs = await queryRows<{ version: number; document: string }>(conn, `SELECT version, document::VARCHAR AS document FROM meta.schemas WHERE topic = ${literal(t.topic)}`);
      const lacking = new Map<string, number[]>();
      for (const d of docs) {
        const names = new Set((JSON.parse(d.document) as { columns: { name: string }[] }).columns.map((c) => c.name));
        for (const c of t.source.columns) if (!names.has(c.name)) lacking.set(c.name, [...(lacking.get(c.name) ?? []), d.version]);
      }
      for (const [column, versions] of lacking) {
        const r = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${rel} WHERE _op NOT IN ('d', 't') AND _schema IN (${versions.join(', ')})`);
        if ((r?.n ?? 0) === 0 && !added.includes(column)) continue;
        out.push(
          metricResult({
            id: `silver.${t.name}.added_column_defaults.${column}`,
            model: `silver.${t.name}`,
            type: 'completeness',
            severity: 'warn',
            description: 'rows last changed before a column was added hold its value (an ADD COLUMN default is not in the log)',
            status: (r?.n ?? 0) > 0 ? 'fail' : 'pass',
            observed: `${r?.n ?? 0} rows last changed before column ${column} existed hold NULL there; the source holds the column's default (runbook: docs/runbooks/ops.md, "Columns the log does not carry")`,
          }),
        );
      }
    }
  }
  return out;
}

/**
 * Valid activities of the last complete local day before `asOf` against the `trailingDays` days
 * before it (days without activity count as 0); skipped with fewer than `minHistoryDays` days
 * with data. Reads the `g_daily` staging table.
 */
export async function volumeCheck(conn: DuckDBConnection, asOf: Date, rules: Rules): Promise<QualityResult> {
  const v = rules.quality.volume;
  const today = `CAST(timezone(${literal(rules.timezone)}, TIMESTAMPTZ ${literal(asOf.toISOString())}) AS DATE)`;
  const rows = await queryRows<{ day: string; n: number; checked: boolean }>(
    conn,
    `WITH days AS (SELECT CAST(d AS DATE) AS day FROM unnest(generate_series(${today} - ${v.trailingDays + 1}, ${today} - 1, INTERVAL 1 DAY)) t(d))
     SELECT strftime(days.day, '%Y-%m-%d') AS day, coalesce(g.activity_count, 0) AS n, days.day = ${today} - 1 AS checked
     FROM days LEFT JOIN g_daily g USING (day) ORDER BY days.day`,
  );
  const checked = rows.find((r) => r.checked);
  const baseline = rows.filter((r) => !r.checked);
  const verdict = volumeVerdict(checked?.n ?? 0, baseline.map((r) => r.n), baseline.filter((r) => r.n > 0).length, v);
  return metricResult({
    id: 'gold.daily_activity_volume',
    model: 'gold',
    type: 'volume_anomaly',
    severity: 'warn',
    description: `activities of the last complete day within ${v.maxZScore} standard deviations of the trailing ${v.trailingDays}-day mean`,
    status: verdict.status,
    observed:
      verdict.status === 'skipped'
        ? `fewer than ${v.minHistoryDays} days with activities in the ${v.trailingDays} days before ${checked?.day}`
        : `${checked?.day}: ${checked?.n} activities; mean ${verdict.mean.toFixed(1)}, stddev ${verdict.stddev.toFixed(1)}, z ${verdict.z === null ? 'inf' : verdict.z.toFixed(2)}`,
  });
}

/** Total cost (annual bonus + well-being) against the previous successful run's. */
export async function costDriftCheck(
  conn: DuckDBConnection,
  current: { bonusCostEur: number; wellbeingCostEur: number },
  paramsHash: string,
  rules: Rules,
): Promise<QualityResult> {
  const prev = await queryOne<{ run_id: string; bonus: number | null; wellbeing: number | null; params_hash: string }>(
    conn,
    `SELECT run_id, bonus_cost_eur::DOUBLE AS bonus, wellbeing_cost_eur::DOUBLE AS wellbeing, params_hash FROM meta.run_log
     WHERE status = 'success' ORDER BY started_at DESC LIMIT 1`,
  );
  const total = current.bonusCostEur + current.wellbeingCostEur;
  const previous = prev ? (prev.bonus ?? 0) + (prev.wellbeing ?? 0) : null;
  const verdict = driftVerdict(total, previous, rules.quality.costDriftMaxPct);
  const paramsNote = prev && prev.params_hash !== paramsHash ? ` (parameters changed since run ${prev.run_id})` : '';
  return metricResult({
    id: 'gold.cost_drift',
    model: 'gold',
    type: 'cost_drift',
    severity: 'warn',
    description: `total cost (sport bonus + well-being days) moves at most ${rules.quality.costDriftMaxPct} % against the previous successful run`,
    status: verdict.status,
    observed:
      previous === null
        ? `no previous successful run; total ${total.toFixed(2)} EUR`
        : `total ${total.toFixed(2)} EUR vs ${previous.toFixed(2)} EUR in run ${prev!.run_id}: ${verdict.pct === null ? 'from zero' : `${verdict.pct >= 0 ? '+' : ''}${verdict.pct.toFixed(1)} %`}${paramsNote}`,
  });
}

/**
 * A rules change must not move the bonus total silently (issue 14: a misspelt commute mode swapped
 * gold with the bonus total down from 118,044.50 to 33,585 EUR and only a cost-drift warning).
 * When the rules differ from those of the previous successful run and the sport bonus total moves
 * more than `quality.rulesChangeMaxBonusDriftPct` against it, this check fails at error level, so
 * gold is not swapped (the previous gold stays), unless the run was started with `--accept-drift`
 * (then it passes, and says it was accepted). Same rules, or no previous run: skipped.
 */
export async function rulesChangeDriftCheck(
  conn: DuckDBConnection,
  bonusCostEur: number,
  paramsHash: string,
  rules: Rules,
  acceptDrift: boolean,
): Promise<QualityResult> {
  const prev = await queryOne<{ run_id: string; bonus: number | null; params_hash: string; rules_version: string }>(
    conn,
    `SELECT run_id, bonus_cost_eur::DOUBLE AS bonus, params_hash, rules_version FROM meta.run_log
     WHERE status = 'success' ORDER BY started_at DESC LIMIT 1`,
  );
  const maxPct = rules.quality.rulesChangeMaxBonusDriftPct;
  const base = {
    id: RULES_CHANGE_DRIFT_CHECK,
    model: 'gold',
    type: 'rules_change_drift',
    severity: 'error' as const,
    description: `after a rules change, the sport bonus total moves at most ${maxPct} % against the previous successful run, unless the run is started with --accept-drift`,
  };
  if (!prev || prev.params_hash === paramsHash || prev.bonus === null) {
    return metricResult({ ...base, status: 'skipped', observed: !prev ? 'no previous successful run' : prev.params_hash === paramsHash ? 'rules unchanged since the previous successful run' : 'the previous run recorded no bonus total' });
  }
  const verdict = driftVerdict(bonusCostEur, prev.bonus, maxPct);
  const move = `bonus total ${bonusCostEur.toFixed(2)} EUR vs ${prev.bonus.toFixed(2)} EUR in run ${prev.run_id} (rules ${prev.rules_version}, changed since): ${verdict.pct === null ? 'from zero' : `${verdict.pct >= 0 ? '+' : ''}${verdict.pct.toFixed(1)} %`}`;
  if (verdict.status !== 'fail') return metricResult({ ...base, status: 'pass', observed: move });
  return metricResult({
    ...base,
    status: acceptDrift ? 'pass' : 'fail',
    observed: acceptDrift ? `${move}; accepted with --accept-drift` : `${move}; gold not swapped: check the rules change, then re-run with --accept-drift to accept it`,
  });
}

/** Id of {@link rulesChangeDriftCheck}'s result. */
export const RULES_CHANGE_DRIFT_CHECK = 'gold.rules_change_drift';
