/**
 * Quality tests declared on the silver models (dbt style, see quality.ts). Every silver table of
 * every source gets its primary key tested (not_null + unique, severity error: compaction must
 * leave one row per key); the tables the sport-rewards data product binds add the checks of
 * their columns below (by role, products/sport-rewards/binding.ts). Rows the quarantine rules
 * catch are only warned about here, since quarantine already keeps them out of gold.
 */
import type { ColumnTest, ModelColumn, ModelTest, TestedModel } from '../quality.ts';
import { QUARANTINE_RULE_CODES } from '../quarantine.ts';
import type { SilverTable } from '../silver.ts';
import { ident } from '../sql.ts';
import type { Binding, Role } from '../../../products/sport-rewards/binding.ts';
import { SILVER_COLUMN_TESTS } from '../../../products/sport-rewards/silver-tests.ts';

/** The tested models of one silver table (its current state, and its history when kept). */
export function silverModels(table: SilverTable, bind?: Binding): TestedModel[] {
  const pk = table.source.primaryKey;
  const role = bind?.roleOf(table.name);
  const extra = role ? resolveRefs(SILVER_COLUMN_TESTS[role], bind!) : {};
  const columns: ModelColumn[] = table.source.columns.map((c) => {
    const tests: ColumnTest[] = [...(extra[c.name] ?? [])];
    if (pk.includes(c.name)) {
      tests.unshift({ test: 'not_null' });
      if (pk.length === 1) tests.splice(1, 0, { test: 'unique' });
    }
    return { name: c.name, description: `source column ${c.name} (${c.pgType})`, tests };
  });
  const tests: ModelTest[] = pk.length > 1 ? [{ test: 'unique_combination', columns: pk }] : [];
  const models: TestedModel[] = [{ name: `silver.${table.name}`, relation: `silver.${ident(table.name)}`, key: pk, columns, tests }];
  if (table.history && pk.length > 0) {
    models.push({
      name: `silver.${table.name}_history`,
      relation: `silver.${ident(`${table.name}_history`)}`,
      key: [...pk, 'valid_from'],
      columns: [{ name: 'valid_from', description: 'commit time of the change', tests: [{ test: 'not_null' }] }],
      tests: [
        { test: 'unique_combination', columns: [...pk, '_lsn'] },
        {
          test: 'expression',
          name: 'one_current_version',
          description: 'at most one current version per key, and it is live in silver',
          failing: `is_current AND (${pk.map(ident).join(', ')}) NOT IN (SELECT (${pk.map(ident).join(', ')}) FROM silver.${ident(table.name)})`,
        },
        { test: 'expression', name: 'intervals_ordered', description: 'valid_to is after valid_from', failing: 'valid_to < valid_from' },
      ],
    });
  }
  return models;
}

/** Column tests with `@<role>` relationship targets replaced by the bound silver relation. */
export function resolveRefs(tests: Record<string, readonly ColumnTest[]>, bind: Binding): Record<string, ColumnTest[]> {
  return Object.fromEntries(
    Object.entries(tests).map(([col, list]) => [
      col,
      list.map((t) => (t.test === 'relationships' && t.to.startsWith('@') ? { ...t, to: bind.rel(t.to.slice(1) as Role) } : t)),
    ]),
  );
}

/** Tests of silver.quarantine. */
export const QUARANTINE_MODEL: TestedModel = {
  name: 'silver.quarantine',
  relation: 'silver.quarantine',
  key: ['table_name', 'record_key'],
  columns: [
    { name: 'rule', description: 'first rule broken', tests: [{ test: 'not_null' }, { test: 'accepted_values', values: QUARANTINE_RULE_CODES }] },
    { name: 'reason', description: 'why, in words', tests: [{ test: 'not_null' }] },
  ],
  tests: [{ test: 'unique_combination', columns: ['table_name', 'record_key'] }],
};
