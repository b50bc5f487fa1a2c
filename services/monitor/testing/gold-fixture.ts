/**
 * A small, deterministic gold for the monitor's tests: 24 employees in 4 business units, a mix of
 * commute modes (eligible walkers and cyclists, one walker declared beyond the limit, one with no
 * distance yet, drivers and transit users), and about 700 activities in 7 sports over the 12
 * months before the batch sandbox's as-of date (2026-06-30), a few of them impossible (quarantined).
 * Written as bronze through the batch job's own fixture (services/batch/testing) and refreshed by
 * the real batch job, so gold is exactly what production would build from these events.
 */
import { activity, batchSandbox, commute, employee, type BatchSandbox } from '../../batch/testing/batch-kit.ts';
import type { RefreshOutcome } from '../../batch/refresh.ts';
import path from 'node:path';
import { loadConfig, type Config } from '../../common/config.ts';

/** Seeded PRNG (mulberry32): the same sequence on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UNITS = ['Marketing', 'Ventes', 'R&D', 'Support'] as const;
const SPORTS: readonly { sport: string; kmh: number | null; km: [number, number]; weight: number }[] = [
  { sport: 'Runing', kmh: 10, km: [5, 14], weight: 5 },
  { sport: 'Randonnée', kmh: 4.5, km: [6, 18], weight: 3 },
  { sport: 'Vélo', kmh: 22, km: [15, 60], weight: 3 },
  { sport: 'Natation', kmh: 2.5, km: [1, 3], weight: 2 },
  { sport: 'Tennis', kmh: null, km: [0, 0], weight: 2 },
  { sport: 'Escalade', kmh: null, km: [0, 0], weight: 1 },
  { sport: 'Badminton', kmh: null, km: [0, 0], weight: 1 },
];

/** Employee ids are 1001..1024. */
export const FIRST_EMPLOYEE = 1001;
export const EMPLOYEES = 24;

/**
 * Writes the fixture into `sb`'s lake and runs a full refresh.
 * @returns the refresh outcome (status "success" expected).
 */
export async function buildFixtureGold(sb: BatchSandbox): Promise<RefreshOutcome> {
  const rand = prng(2026);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const weighted = () => {
    const total = SPORTS.reduce((s, x) => s + x.weight, 0);
    let r = rand() * total;
    for (const s of SPORTS) if ((r -= s.weight) < 0) return s;
    return SPORTS[0]!;
  };
  for (let i = 0; i < EMPLOYEES; i++) {
    const id = FIRST_EMPLOYEE + i;
    const unit = UNITS[i % UNITS.length]!;
    // Modes: 0-7 walk/run (one beyond the limit, one without distance), 8-13 cycle, others drive or take transit.
    const mode = i < 8 ? 'Marche/running' : i < 14 ? 'Vélo/Trottinette/Autres' : i % 2 ? 'véhicule thermique/électrique' : 'Transports en commun';
    sb.fixture.snapshot(
      'employees',
      employee(id, {
        first_name: `Prénom${i + 1}`,
        last_name: `Nom${i + 1}`,
        business_unit: unit,
        gross_annual_salary_eur: 30_000 + ((i * 7919) % 40_000),
        hire_date: i < 20 ? '2022-03-01' : '2025-11-03',
        commute_mode: mode,
      }),
    );
    sb.fixture.snapshot('declared_sports', { employee_id: id, sport: pick(SPORTS).sport, declared_at: new Date('2025-01-10T09:00:00Z') });
    const km = mode === 'Marche/running' ? (i === 3 ? 40 : 1.5 + i) : mode === 'Vélo/Trottinette/Autres' ? 4 + i : 8 + i * 2;
    if (i !== 5) sb.fixture.snapshot('commute_distances', commute(id, Math.round(km * 1000)));
  }
  const start = Date.parse('2025-07-01T06:00:00Z');
  const end = Date.parse('2026-06-29T18:00:00Z');
  for (let i = 0; i < EMPLOYEES; i++) {
    const id = FIRST_EMPLOYEE + i;
    const hired = i < 20 ? start : Date.parse('2025-11-03T06:00:00Z');
    // Activity level varies: some employees cross the well-being threshold (15 a year), others not.
    const count = [8, 14, 20, 30, 45][i % 5]!;
    for (let n = 0; n < count; n++) {
      const at = hired + Math.floor(rand() * (end - hired));
      const s = weighted();
      const distanceKm = s.kmh === null ? null : Math.round((s.km[0] + rand() * (s.km[1] - s.km[0])) * 10) / 10;
      sb.fixture.insert('activities', activity(id, new Date(at).toISOString(), distanceKm, { sport_type: s.sport, kmh: s.kmh ?? 10 }));
    }
  }
  // Impossible activities: quarantined, so they are findings and not counted.
  sb.fixture.insert('activities', activity(FIRST_EMPLOYEE, '2026-03-02T07:00:00Z', 42, { kmh: 60, sport_type: 'Runing' }));
  sb.fixture.insert('activities', activity(FIRST_EMPLOYEE + 1, '2026-04-12T07:00:00Z', -3, { sport_type: 'Runing' }));
  await sb.fixture.flush();
  return sb.refresh({ full: true });
}

/** A fresh batch sandbox (services/batch/testing) with the fixture gold built; `env` overrides its variables. */
export async function fixtureSandbox(env: Record<string, string> = {}): Promise<{ sb: BatchSandbox; outcome: RefreshOutcome }> {
  const sb = await batchSandbox(env);
  return { sb, outcome: await buildFixtureGold(sb) };
}

/**
 * The monitor's configuration over `sb`'s gold and state (no CDC metrics, one collection an
 * hour, alert state and dry-run files in `dir`); `env` overrides, e.g. MONITOR_MIN_GROUP_SIZE.
 */
export function fixtureMonitorConfig(sb: BatchSandbox, dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    ...process.env,
    BATCH_STATE_DIR: sb.config.batch.stateDir,
    BATCH_GOLD_DB: sb.config.batch.goldDb,
    LAKE_URL: sb.config.lakeUrl,
    MONITOR_INTERVAL_S: '3600',
    MONITOR_STATE_FILE: path.join(dir, 'state.json'),
    ALERT_DRY_RUN_FILE: path.join(dir, 'alerts.jsonl'),
    CDC_METRICS_PORT: '0',
    ...env,
  });
}
