/**
 * The data-quality scores of `/api/quality` (pure): freshness, completeness and anomaly, each a
 * number in [0, 1] with the figures behind it, computed from the batch job's outputs (its last
 * quality report, run_log and two counts read from gold). The batch stays the judge of pass/fail
 * (services/batch/checks.ts); the scores say how close to its thresholds the data is.
 *
 * - freshness = 1 while the newest source event is at most `quality.freshnessMaxHours` old, then
 *   falls linearly to 0 at twice that age. The newest event time is the one the batch's freshness
 *   check measured (its `observed` text: "newest event <ISO>, ..."), aged to now.
 * - completeness = the worse of: valid silver rows / all silver rows (quarantined rows are the
 *   incomplete ones; run_log row counts), and employees with a qualifying commute mode whose
 *   home-to-office distance is known / all of them (gold sport_bonus).
 * - anomaly = how far the last checks are from normal, 0 = normal, 1 = at or beyond the threshold:
 *   the larger of |z| / quality.volume.maxZScore (daily activity volume) and |drift %| /
 *   quality.costDriftMaxPct (total cost against the previous successful run).
 */
import type { BatchRun, QualityStatus } from '../common/status/batch-state.ts';

export type ScoreStatus = 'ok' | 'warn' | 'unknown';

export interface FreshnessScore {
  score: number | null;
  status: ScoreStatus;
  newestEventAt: string | null;
  /** Age of the newest source event now, hours. */
  eventAgeHours: number | null;
  limitHours: number;
  lastRefreshAt: string | null;
  /** Age of the last successful refresh now, hours. */
  refreshAgeHours: number | null;
}

export interface CompletenessScore {
  score: number | null;
  status: ScoreStatus;
  rows: { silver: number; quarantined: number; score: number | null };
  commuteDistances: { qualifyingEmployees: number; withDistance: number; score: number | null };
}

export interface AnomalyScore {
  score: number | null;
  status: ScoreStatus;
  volume: { status: 'pass' | 'fail' | 'skipped' | 'unknown'; z: number | null; maxZScore: number; score: number | null; observed: string | null };
  costDrift: { status: 'pass' | 'fail' | 'skipped' | 'unknown'; pct: number | null; maxPct: number; score: number | null; observed: string | null };
}

const HOUR_MS = 3_600_000;
const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Reads a number at `path` of the rules the report carries, or `fallback` (pure). */
export function ruleNumber(params: Record<string, unknown> | null | undefined, path: string, fallback: number): number {
  let v: unknown = params;
  for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** 1 up to `limit`, then linear down to 0 at 2 x `limit` (pure). */
export function agingScore(age: number, limit: number): number {
  if (age <= limit) return 1;
  if (limit <= 0) return 0;
  return round(Math.max(0, 1 - (age - limit) / limit));
}

/** Freshness from the latest report and the last successful run, at `now` (pure). */
export function freshnessScore(report: QualityStatus | null, lastSuccess: BatchRun | null, now: number): FreshnessScore {
  const limitHours = ruleNumber(report?.params, 'quality.freshnessMaxHours', 36);
  const observed = report?.results.find((r) => r.type === 'freshness')?.observed ?? null;
  const newest = observed ? /newest event (\S+?),/.exec(observed)?.[1] ?? null : null;
  const newestMs = newest ? Date.parse(newest) : NaN;
  const eventAgeHours = Number.isFinite(newestMs) ? round((now - newestMs) / HOUR_MS, 2) : null;
  const refreshAgeHours = lastSuccess ? round((now - Date.parse(lastSuccess.finishedAt)) / HOUR_MS, 2) : null;
  const score = eventAgeHours === null ? null : agingScore(eventAgeHours, limitHours);
  return {
    score,
    status: score === null ? 'unknown' : score === 1 ? 'ok' : 'warn',
    newestEventAt: Number.isFinite(newestMs) ? new Date(newestMs).toISOString() : null,
    eventAgeHours,
    limitHours,
    lastRefreshAt: lastSuccess?.finishedAt ?? null,
    refreshAgeHours,
  };
}

/**
 * Completeness (pure).
 * @param rowCounts run_log row counts of the last successful run (`silver.<table>`, `silver.quarantine`).
 * @param commute employees with a qualifying commute mode, and those whose distance is known (gold), or null if gold is not readable.
 */
export function completenessScore(rowCounts: Record<string, number> | null, commute: { qualifyingEmployees: number; withDistance: number } | null): CompletenessScore {
  const silverTables = Object.entries(rowCounts ?? {}).filter(([k]) => /^silver\.[a-z0-9_]+$/.test(k) && k !== 'silver.quarantine' && !k.endsWith('_history'));
  const silver = silverTables.reduce((s, [, n]) => s + n, 0);
  const quarantined = rowCounts?.['silver.quarantine'] ?? 0;
  const rowsScore = rowCounts && silver > 0 ? round(1 - quarantined / silver) : null;
  const commuteScore = commute && commute.qualifyingEmployees > 0 ? round(commute.withDistance / commute.qualifyingEmployees) : null;
  const parts = [rowsScore, commuteScore].filter((x): x is number => x !== null);
  const score = parts.length ? Math.min(...parts) : null;
  return {
    score,
    status: score === null ? 'unknown' : score === 1 ? 'ok' : 'warn',
    rows: { silver, quarantined, score: rowsScore },
    commuteDistances: { qualifyingEmployees: commute?.qualifyingEmployees ?? 0, withDistance: commute?.withDistance ?? 0, score: commuteScore },
  };
}

/** Anomaly from the volume and cost-drift checks of the latest report (pure). */
export function anomalyScore(report: QualityStatus | null): AnomalyScore {
  const maxZScore = ruleNumber(report?.params, 'quality.volume.maxZScore', 3);
  const maxPct = ruleNumber(report?.params, 'quality.costDriftMaxPct', 20);
  const vol = report?.results.find((r) => r.type === 'volume_anomaly');
  const drift = report?.results.find((r) => r.type === 'cost_drift');
  const zText = vol?.observed ? /\bz (-?[\d.]+|inf)\b/.exec(vol.observed)?.[1] : undefined;
  const z = zText === undefined ? null : zText === 'inf' ? Infinity : Number(zText);
  const pctText = drift?.observed ? /: ([+-]?[\d.]+) %/.exec(drift.observed)?.[1] : undefined;
  const pct = pctText === undefined ? (drift?.observed?.includes('from zero') ? Infinity : null) : Number(pctText);
  const volumeScore = vol?.status === 'skipped' || z === null ? null : round(Math.min(1, Math.abs(z) / maxZScore));
  const driftScore = drift?.status === 'skipped' || pct === null ? null : round(Math.min(1, Math.abs(pct) / maxPct));
  const parts = [volumeScore, driftScore].filter((x): x is number => x !== null);
  const failed = vol?.status === 'fail' || drift?.status === 'fail';
  const score = parts.length ? Math.max(...parts) : failed ? 1 : null;
  return {
    score,
    status: failed ? 'warn' : score === null ? 'unknown' : 'ok',
    volume: { status: vol?.status ?? 'unknown', z: z === Infinity ? null : z, maxZScore, score: volumeScore, observed: vol?.observed ?? null },
    costDrift: { status: drift?.status ?? 'unknown', pct: pct === Infinity ? null : pct, maxPct, score: driftScore, observed: drift?.observed ?? null },
  };
}
