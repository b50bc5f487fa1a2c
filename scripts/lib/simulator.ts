/**
 * The activity simulator's database side: bulk history loads and live, one-by-one inserts
 * (as a Strava webhook would deliver them), plus the occasional comment edit and deletion so
 * that CDC sees every kind of operation. Writes as the application role (least privilege).
 */
import pg from 'pg';
import { pgConnection, type Config } from '../../services/common/config.ts';
import { editedComment, generateHistory, generateLiveActivity, newFaker, type SimulatedActivity } from './activity-sim.ts';
import { generateHrData, type SportHabit } from './hr-data.ts';

export class SimulatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorError';
  }
}

/** Parses a history period: `12mo`, `90d`, `8w` or `1y`. @returns whole days. @throws SimulatorError. */
export function parsePeriod(value: string): number {
  const m = /^(\d+)(mo|d|w|y)$/.exec(value.trim());
  if (!m) throw new SimulatorError(`--history: expected a period like 12mo, 90d, 8w or 1y (got "${value}")`);
  const n = Number(m[1]);
  const days = { d: n, w: 7 * n, mo: Math.round(30.44 * n), y: 365 * n }[m[2] as 'd' | 'w' | 'mo' | 'y'];
  if (days <= 0 || days > 3650) throw new SimulatorError(`--history: the period must be between 1 day and 10 years (got "${value}")`);
  return days;
}

/** Parses a rate: `2/s`, `30/min` or `100/h`. @returns events per second. @throws SimulatorError. */
export function parseRate(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\/(s|min|h)$/.exec(value.trim());
  if (!m) throw new SimulatorError(`--rate: expected <number>/s, /min or /h, e.g. 2/s (got "${value}")`);
  const perSecond = Number(m[1]) / { s: 1, min: 60, h: 3600 }[m[2] as 's' | 'min' | 'h'];
  if (perSecond <= 0 || perSecond > 1000) throw new SimulatorError(`--rate: must be above 0 and at most 1000/s (got "${value}")`);
  return perSecond;
}

/**
 * Habits of the employees present in the database: the seeded data set's habits where the
 * employee is known to it, and a casual default (0.5 runs a week) for anyone added since.
 * @throws SimulatorError when the employees table is empty.
 */
export async function loadHabits(client: pg.Client, seed: number): Promise<SportHabit[]> {
  const rows = (await client.query<{ employee_id: number; sport: string | null }>(
    'SELECT e.employee_id, d.sport FROM employees e LEFT JOIN declared_sports d USING (employee_id) ORDER BY e.employee_id',
  )).rows;
  if (rows.length === 0) throw new SimulatorError('the employees table is empty: run `npm run db:seed` first');
  const known = new Map(generateHrData(seed).habits.map((h) => [h.employee_id, h]));
  return rows.map((r) => known.get(r.employee_id) ?? { employee_id: r.employee_id, activitiesPerWeek: 0.5, mainSport: r.sport ?? 'Runing', secondarySport: null });
}

/** A deterministic number in [0, 1) from a string (FNV-1a, 32 bits). */
export function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

const INSERT_COLUMNS = ['activity_id', 'employee_id', 'sport_type', 'started_at', 'ended_at', 'elapsed_seconds', 'distance_m', 'comment', 'source'] as const;

function toRecord(a: SimulatedActivity) {
  return { ...a, started_at: a.started_at.toISOString(), ended_at: a.ended_at.toISOString() };
}

export interface HistoryResult {
  generated: number;
  inserted: number;
  edited: number;
  deleted: number;
}

/**
 * Loads `days` of history ending at today's UTC midnight, in transactions of `batchSize` rows.
 * Ids are deterministic, so re-running the same day inserts nothing new (not even the rows the
 * first run deleted). After the load, `editRatio` of the newly inserted activities get an edited
 * comment and `deleteRatio` are deleted.
 * @param onProgress called after each batch with (rows done, rows total).
 */
export async function loadHistory(
  config: Config,
  options: { days: number; seed: number; batchSize?: number; editRatio: number; deleteRatio: number; endDay?: Date },
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<HistoryResult> {
  const client = new pg.Client(pgConnection(config, 'simulator'));
  await client.connect();
  try {
    const habits = await loadHabits(client, options.seed);
    const today = new Date();
    const endDay = options.endDay ?? new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
    const generated = generateHistory(habits, { seed: options.seed, endDay, days: options.days });
    // Edits and deletes are chosen by a hash of (seed, id). On a re-run (some of these rows are
    // already there), the rows an earlier run deleted are not inserted again: a re-run leaves the
    // table as it is and produces no change events.
    const draw = (id: number) => unitHash(`${options.seed}:${id}`);
    const isDeleted = (id: number) => draw(id) >= options.editRatio && draw(id) < options.editRatio + options.deleteRatio;
    const existing = await client.query<{ n: string }>('SELECT count(*) AS n FROM activities WHERE activity_id = ANY($1::bigint[])', [generated.map((a) => a.activity_id!)]);
    const rerun = Number(existing.rows[0]!.n) > 0;
    const activities = rerun ? generated.filter((a) => !isDeleted(a.activity_id!)) : generated;
    const batchSize = options.batchSize ?? 1000;
    const insertedIds: number[] = [];
    onProgress(0, activities.length);
    for (let i = 0; i < activities.length; i += batchSize) {
      const batch = activities.slice(i, i + batchSize).map(toRecord);
      const res = await client.query<{ activity_id: string }>(
        `INSERT INTO activities (${INSERT_COLUMNS.join(', ')})
         SELECT ${INSERT_COLUMNS.join(', ')} FROM jsonb_to_recordset($1::jsonb) AS r(
           activity_id bigint, employee_id integer, sport_type text, started_at timestamptz, ended_at timestamptz,
           elapsed_seconds integer, distance_m integer, comment text, source text)
         ON CONFLICT (activity_id) DO NOTHING
         RETURNING activity_id`,
        [JSON.stringify(batch)],
      );
      insertedIds.push(...res.rows.map((r) => Number(r.activity_id)));
      onProgress(Math.min(i + batchSize, activities.length), activities.length);
    }
    // Edits and deletes touch only rows this run inserted.
    const faker = newFaker(options.seed);
    const toEdit = insertedIds.filter((id) => draw(id) < options.editRatio);
    const toDelete = insertedIds.filter(isDeleted);
    for (const id of toEdit) {
      await client.query('UPDATE activities SET comment = $2, updated_at = now() WHERE activity_id = $1', [id, editedComment(faker)]);
    }
    if (toDelete.length) await client.query('DELETE FROM activities WHERE activity_id = ANY($1::bigint[])', [toDelete]);
    return { generated: generated.length, inserted: insertedIds.length, edited: toEdit.length, deleted: toDelete.length };
  } finally {
    await client.end();
  }
}

export type LiveEvent =
  | { kind: 'insert'; activity: SimulatedActivity & { activity_id: number } }
  | { kind: 'edit'; activityId: number; comment: string }
  | { kind: 'delete'; activityId: number };

/**
 * Inserts `count` activities one at a time (each its own transaction) at `ratePerSecond`.
 * Between inserts it may edit the comment of a recent live activity (`editRatio`) or delete one
 * (`deleteRatio`). Stops early, cleanly, when `signal` aborts.
 * @returns the inserted activity ids.
 */
export async function runLive(
  config: Config,
  options: { count: number; ratePerSecond: number; seed: number; editRatio: number; deleteRatio: number; signal?: AbortSignal },
  onEvent: (event: LiveEvent) => void = () => undefined,
): Promise<number[]> {
  const client = new pg.Client(pgConnection(config, 'simulator'));
  await client.connect();
  const inserted: number[] = [];
  try {
    const habits = await loadHabits(client, options.seed);
    const faker = newFaker(options.seed + Date.now());
    const intervalMs = 1000 / options.ratePerSecond;
    const start = Date.now();
    for (let n = 0; n < options.count && !options.signal?.aborted; n++) {
      const wait = start + n * intervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (options.signal?.aborted) break;
      const activity = generateLiveActivity(faker, habits, new Date());
      const res = await client.query<{ activity_id: string }>(
        `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING activity_id`,
        [activity.employee_id, activity.sport_type, activity.started_at, activity.ended_at, activity.elapsed_seconds, activity.distance_m, activity.comment, activity.source],
      );
      const id = Number(res.rows[0]!.activity_id);
      inserted.push(id);
      onEvent({ kind: 'insert', activity: { ...activity, activity_id: id } });
      const roll = faker.number.float();
      if (inserted.length > 1 && roll < options.editRatio) {
        const target = faker.helpers.arrayElement(inserted.slice(0, -1));
        const comment = editedComment(faker);
        const upd = await client.query('UPDATE activities SET comment = $2, updated_at = now() WHERE activity_id = $1', [target, comment]);
        if (upd.rowCount) onEvent({ kind: 'edit', activityId: target, comment });
      } else if (inserted.length > 1 && roll < options.editRatio + options.deleteRatio) {
        const target = faker.helpers.arrayElement(inserted.slice(0, -1));
        const del = await client.query('DELETE FROM activities WHERE activity_id = $1', [target]);
        if (del.rowCount) onEvent({ kind: 'delete', activityId: target });
      }
    }
    return inserted;
  } finally {
    await client.end();
  }
}
