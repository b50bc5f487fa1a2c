import { describe, expect, it } from 'vitest';
import { decideEmployeeMessage } from './decide.ts';

const employee = {
  employee_id: 12,
  last_name: 'Mendes',
  first_name: 'Juliette',
  birth_date: 7305,
  business_unit: 'Ventes',
  hire_date: 18262,
  gross_annual_salary_eur: '42000.00',
  contract_type: 'CDI',
  paid_leave_days: 25,
  home_address: '12 rue de la Loge',
  home_postcode: '34000',
  home_city: 'Montpellier',
  home_lat: 43.6108,
  home_lon: 3.8767,
  commute_mode: 'Marche/running',
  updated_at: '2024-05-02T07:00:00.000000Z',
};
const home = { employee_id: 12, home_address: '12 rue de la Loge', home_postcode: '34000', home_city: 'Montpellier', home_lat: 43.6108, home_lon: 3.8767, commute_mode: 'Marche/running' };
const event = (op: string, before: object | null, after: object | null) => JSON.stringify({ before, after, source: { ts_ms: 1, snapshot: op === 'r' ? 'true' : 'false', schema: 'public', table: 'employees' }, op, ts_ms: 2 });

describe('decideEmployeeMessage', () => {
  it('computes for new employees and snapshot rows, keeping only the home fields', () => {
    expect(decideEmployeeMessage(event('c', null, employee), 'compute')).toEqual({ kind: 'compute', employee: home, mode: 'walking' });
    expect(decideEmployeeMessage(event('r', null, employee), 'compute')).toEqual({ kind: 'compute', employee: home, mode: 'walking' });
  });
  it('recomputes when the address or the commute mode changes, not for other updates', () => {
    expect(decideEmployeeMessage(event('u', employee, { ...employee, gross_annual_salary_eur: '45000.00', paid_leave_days: 27 }), 'compute')).toEqual({ kind: 'skip', reason: 'unchanged' });
    expect(decideEmployeeMessage(event('u', employee, { ...employee, home_address: '3 place de la Comédie' }), 'compute')).toMatchObject({ kind: 'compute', employee: { home_address: '3 place de la Comédie' } });
    expect(decideEmployeeMessage(event('u', employee, { ...employee, home_lat: 43.7 }), 'compute')).toMatchObject({ kind: 'compute' });
    expect(decideEmployeeMessage(event('u', employee, { ...employee, commute_mode: 'Vélo/Trottinette/Autres' }), 'compute')).toMatchObject({ kind: 'compute', mode: 'bicycling' });
    expect(decideEmployeeMessage(event('u', null, employee), 'compute')).toMatchObject({ kind: 'compute' });
  });
  it('removes the row of a commute mode skipped by configuration', () => {
    expect(decideEmployeeMessage(event('u', employee, { ...employee, commute_mode: 'Transports en commun' }), 'skip')).toEqual({ kind: 'remove', employeeId: 12 });
    expect(decideEmployeeMessage(event('u', employee, { ...employee, commute_mode: 'Transports en commun' }), 'compute')).toMatchObject({ kind: 'compute', mode: 'transit' });
  });
  it('skips deletes and tombstones', () => {
    expect(decideEmployeeMessage(event('d', employee, null), 'compute')).toEqual({ kind: 'skip', reason: 'delete' });
    expect(decideEmployeeMessage(null, 'compute')).toEqual({ kind: 'skip', reason: 'tombstone' });
  });
  it('dead-letters what it cannot use', () => {
    expect(decideEmployeeMessage('garbage', 'compute')).toMatchObject({ kind: 'dead-letter', reason: 'invalid_json' });
    expect(decideEmployeeMessage(event('c', null, { ...employee, home_address: ' ' }), 'compute')).toMatchObject({ kind: 'dead-letter', reason: 'invalid_employee', detail: expect.stringContaining('home_address') });
    expect(decideEmployeeMessage(event('c', null, { ...employee, commute_mode: 'Téléportation' }), 'compute')).toMatchObject({ kind: 'dead-letter', reason: 'unknown_commute_mode' });
  });
});
