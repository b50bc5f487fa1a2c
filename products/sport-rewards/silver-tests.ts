/**
 * The sport-rewards data product's tests on the silver tables it binds (dbt style, see
 * services/batch/quality.ts), by role (binding.ts): HR values it relies on, and that every row
 * refers to a known employee. `@employees` is the bound employees table. Warnings only, except
 * a missing business unit: quarantine keeps invalid rows out of gold anyway.
 */
import type { ColumnTest } from '../../services/batch/quality.ts';
import type { Role } from './binding.ts';
import { COMMUTE_MODES } from './gold/constants.ts';

/** Extra column tests of the sport-rewards product's tables, by role and column (`@employees`: the bound employees). */
export const SILVER_COLUMN_TESTS: Record<Role, Record<string, ColumnTest[]>> = {
  employees: {
    business_unit: [{ test: 'not_null' }],
    commute_mode: [{ test: 'accepted_values', values: COMMUTE_MODES, severity: 'warn' }],
    contract_type: [{ test: 'accepted_values', values: ['CDI', 'CDD'], severity: 'warn' }],
    gross_annual_salary_eur: [
      { test: 'not_null', severity: 'warn' },
      { test: 'accepted_range', min: 1, max: 1_000_000, severity: 'warn' },
    ],
  },
  activities: {
    employee_id: [{ test: 'relationships', to: '@employees', field: 'employee_id', severity: 'warn' }],
    distance_m: [{ test: 'accepted_range', min: 0, severity: 'warn' }],
    sport_type: [{ test: 'not_null', severity: 'warn' }],
  },
  declared_sports: {
    employee_id: [{ test: 'relationships', to: '@employees', field: 'employee_id', severity: 'warn' }],
  },
  commute_distances: {
    employee_id: [{ test: 'relationships', to: '@employees', field: 'employee_id', severity: 'warn' }],
    status: [{ test: 'accepted_values', values: ['OK', 'NOT_FOUND', 'ZERO_RESULTS'], severity: 'warn' }],
    distance_m: [{ test: 'accepted_range', min: 0, severity: 'warn' }],
  },
};

