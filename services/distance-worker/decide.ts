/**
 * What the distance worker does with one message of `<prefix>.public.employees` (pure).
 *
 * - c (new employee) and r (snapshot read, i.e. an employee the worker sees for the first time):
 *   compute.
 * - u: compute only when the address (street, postcode, city, coordinates) or the commute mode
 *   changed; other updates (salary, leave days...) are skipped. Without a before image (a table
 *   not in REPLICA IDENTITY FULL) every update is treated as a change; the cache and the
 *   row comparison keep that cheap.
 * - d and tombstones: skipped, the commute row goes with the employee (ON DELETE CASCADE).
 * - A commute mode skipped by configuration: remove the employee's commute row, if any.
 * - Undecodable messages and rows without the fields needed: dead-letter with the reason.
 */
import { z } from 'zod';
import { decodeOrDeadLetter } from '../common/contracts/change-event.ts';
import { travelModeFor, type TravelMode } from './commute.ts';

/** The employee fields the worker reads (nothing else is kept). */
export interface EmployeeHome {
  employee_id: number;
  home_address: string;
  home_postcode: string;
  home_city: string;
  home_lat: number | null;
  home_lon: number | null;
  commute_mode: string;
}

export type Decision =
  | { kind: 'compute'; employee: EmployeeHome; mode: TravelMode }
  | { kind: 'remove'; employeeId: number }
  | { kind: 'skip'; reason: 'tombstone' | 'delete' | 'truncate' | 'unchanged' }
  | { kind: 'dead-letter'; reason: 'invalid_json' | 'invalid_envelope' | 'invalid_employee' | 'unknown_commute_mode'; detail: string };

const employeeHome = z.object({
  employee_id: z.number().int(),
  home_address: z.string().trim().min(1),
  home_postcode: z.string().trim().min(1),
  home_city: z.string().trim().min(1),
  home_lat: z.number().min(-90).max(90).nullable(),
  home_lon: z.number().min(-180).max(180).nullable(),
  commute_mode: z.string(),
});

const WATCHED = ['home_address', 'home_postcode', 'home_city', 'home_lat', 'home_lon', 'commute_mode'] as const;

/**
 * @param value raw Kafka message value (null = tombstone).
 * @param otherModes DISTANCE_OTHER_MODES: compute or skip transit/car commuters.
 * @returns the decision; never throws.
 */
export function decideEmployeeMessage(value: Buffer | string | null, otherModes: 'compute' | 'skip'): Decision {
  const decoded = decodeOrDeadLetter(value);
  if (decoded.kind === 'dead-letter') return decoded;
  const event = decoded.event;
  if (event === null) return { kind: 'skip', reason: 'tombstone' };
  if (event.op === 'd') return { kind: 'skip', reason: 'delete' };
  if (event.op === 't') return { kind: 'skip', reason: 'truncate' };
  if (event.op === 'u' && event.before && WATCHED.every((f) => event.before?.[f] === event.after?.[f])) return { kind: 'skip', reason: 'unchanged' };

  const parsed = employeeHome.safeParse(event.after);
  if (!parsed.success) {
    return { kind: 'dead-letter', reason: 'invalid_employee', detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  }
  const employee = parsed.data;
  const mode = travelModeFor(employee.commute_mode, otherModes);
  if (mode === undefined) return { kind: 'dead-letter', reason: 'unknown_commute_mode', detail: `commute_mode ${JSON.stringify(employee.commute_mode)} is not one of the HR values` };
  if (mode === null) return { kind: 'remove', employeeId: employee.employee_id };
  return { kind: 'compute', employee, mode };
}
