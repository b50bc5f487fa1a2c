/**
 * PostgreSQL adapter of the distance worker (application role): the `commute_distances` rows it
 * owns (captured by CDC like any source table) and the `commute_distance_cache` of Google answers
 * by normalised address (migration 003, not published).
 */
import type pg from 'pg';
import type { TravelMode } from './commute.ts';
import type { EmployeeHome } from './decide.ts';
import type { DistanceResult, DistanceStatus } from './providers/types.ts';

/** A `commute_distances` row as the worker writes it (metres, seconds). */
export interface CommuteRow {
  employee_id: number;
  origin_address: string;
  destination_address: string;
  travel_mode: TravelMode;
  distance_m: number | null;
  duration_s: number | null;
  provider: 'google' | 'offline';
  status: DistanceStatus;
}

/** What {@link CommuteStore.save} did. */
export type SaveOutcome = 'written' | 'unchanged' | 'employee_gone';

export class CommuteStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * The employee's current home fields (and nothing else) from `employees`.
   * @returns null when the employee no longer exists.
   */
  async currentHome(employeeId: number): Promise<EmployeeHome | null> {
    const r = await this.pool.query<EmployeeHome>(
      'SELECT employee_id, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode FROM employees WHERE employee_id = $1',
      [employeeId],
    );
    return r.rows[0] ?? null;
  }

  /**
   * A cached Google answer for this address and mode, if younger than `ttlDays`.
   * @param addressKey normalised address (normaliseAddress).
   */
  async cached(addressKey: string, mode: TravelMode, ttlDays: number): Promise<DistanceResult | null> {
    const r = await this.pool.query<DistanceResult>(
      `SELECT status, distance_m, duration_s FROM commute_distance_cache
       WHERE address_key = $1 AND travel_mode = $2 AND computed_at > now() - make_interval(secs => $3::double precision * 86400)`,
      [addressKey, mode, ttlDays],
    );
    return r.rows[0] ?? null;
  }

  /** Stores (or refreshes) a Google answer. */
  async putCache(addressKey: string, mode: TravelMode, api: 'routes' | 'distance-matrix', result: DistanceResult): Promise<void> {
    await this.pool.query(
      `INSERT INTO commute_distance_cache (address_key, travel_mode, api, status, distance_m, duration_s)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (address_key, travel_mode) DO UPDATE
         SET api = EXCLUDED.api, status = EXCLUDED.status, distance_m = EXCLUDED.distance_m,
             duration_s = EXCLUDED.duration_s, computed_at = now()`,
      [addressKey, mode, api, result.status, result.distance_m, result.duration_s],
    );
  }

  /**
   * Upserts the employee's row, unless it already holds exactly these values (a replay or an
   * unrelated update must not produce a new change event).
   * @returns `written`, `unchanged`, or `employee_gone` when the employee was deleted meanwhile
   *   (foreign-key violation: the row would have been deleted with the employee anyway).
   */
  async save(row: CommuteRow): Promise<SaveOutcome> {
    try {
      const r = await this.pool.query(
        `INSERT INTO commute_distances AS c
           (employee_id, origin_address, destination_address, travel_mode, distance_m, duration_s, provider, status, computed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
         ON CONFLICT (employee_id) DO UPDATE
           SET origin_address = EXCLUDED.origin_address, destination_address = EXCLUDED.destination_address,
               travel_mode = EXCLUDED.travel_mode, distance_m = EXCLUDED.distance_m, duration_s = EXCLUDED.duration_s,
               provider = EXCLUDED.provider, status = EXCLUDED.status, computed_at = now()
           WHERE (c.origin_address, c.destination_address, c.travel_mode, c.distance_m, c.duration_s, c.provider, c.status)
                 IS DISTINCT FROM
                 (EXCLUDED.origin_address, EXCLUDED.destination_address, EXCLUDED.travel_mode, EXCLUDED.distance_m, EXCLUDED.duration_s, EXCLUDED.provider, EXCLUDED.status)`,
        [row.employee_id, row.origin_address, row.destination_address, row.travel_mode, row.distance_m, row.duration_s, row.provider, row.status],
      );
      return r.rowCount === 1 ? 'written' : 'unchanged';
    } catch (err) {
      if ((err as { code?: string }).code === '23503') return 'employee_gone';
      throw err;
    }
  }

  /** Deletes the employee's row (commute mode skipped by configuration). @returns whether one existed. */
  async remove(employeeId: number): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM commute_distances WHERE employee_id = $1', [employeeId]);
    return (r.rowCount ?? 0) > 0;
  }
}
