/**
 * Quoting for the SQL text the batch builds. Only names and constants of the project's own
 * making (table and column names from schema documents, rule values, file paths) are quoted
 * here; row values never enter SQL text.
 */

/** Quotes an SQL identifier for DuckDB. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an SQL string literal for DuckDB. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
