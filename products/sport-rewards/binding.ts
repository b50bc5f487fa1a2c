/**
 * How the sport-rewards data product binds to the platform: the four source tables it reads, by
 * role, named explicitly by namespace (the rules file's `source`: CDC topic prefix and
 * PostgreSQL schema), and the silver relations they are in (services/batch/silver-names.ts).
 * Nothing of the product is matched by bare table name: a `public.employees` table of another
 * source is another silver table the product never reads.
 */
import type { Rules } from '../../services/batch/rules.ts';
import { silverName } from '../../services/batch/silver-names.ts';
import { ident } from '../../services/batch/sql.ts';

/** The product's name, as the refresh reports it. */
export const PRODUCT_NAME = 'sport-rewards';

/** The source tables the product reads, by role (= table name in the sport database). */
export const ROLES = ['employees', 'declared_sports', 'activities', 'commute_distances'] as const;
export type Role = (typeof ROLES)[number];

/** Roles whose full version history silver keeps for the product (`silver.<name>_history`). */
export const HISTORY_ROLES: readonly Role[] = ['employees'];

/** The product bound to one source. */
export interface Binding {
  product: string;
  namespace: string;
  schema: string;
  /** Silver table name of each role, e.g. activities -> `sport__public__activities`. */
  tables: Record<Role, string>;
  /** `silver."<name><suffix>"` of a role, e.g. rel('activities', '_valid'). */
  rel(role: Role, suffix?: string): string;
  /** The role of a silver table name, if the product binds it. */
  roleOf(silverTable: string): Role | undefined;
}

/**
 * Binds the product to the source its rules name.
 * @param defaultNamespace the namespace when the rules name none: the deployment's KAFKA_TOPIC_PREFIX
 */
export function bind(rules: Pick<Rules, 'source'>, defaultNamespace = 'sport'): Binding {
  const namespace = rules.source.namespace ?? defaultNamespace;
  const { schema } = rules.source;
  const tables = Object.fromEntries(ROLES.map((r) => [r, silverName({ source: namespace, schema, table: r })])) as Record<Role, string>;
  return {
    product: PRODUCT_NAME,
    namespace,
    schema,
    tables,
    rel: (role, suffix = '') => `silver.${ident(tables[role] + suffix)}`,
    roleOf: (name) => ROLES.find((r) => tables[r] === name),
  };
}
