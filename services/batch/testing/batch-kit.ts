/**
 * Test support for the batch job: an isolated lake and state directory per test, a refresh
 * runner, read-only queries on gold.duckdb and silver, and row builders for the fixture tables.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig, type Config } from '../../common/config.ts';
import { openLake, type LakeStorage } from '../../common/lake-storage.ts';
import { createLogger } from '../../common/logger.ts';
import { refresh, type RefreshOptions, type RefreshOutcome } from '../refresh.ts';
import { silverName } from '../silver-names.ts';
import type { TableSchema } from '../table-schema.ts';
import { sportSchemas } from './table-schemas.ts';
import { BronzeFixture, type Row } from './bronze-fixture.ts';

export interface BatchSandbox {
  dir: string;
  config: Config;
  lake: LakeStorage;
  fixture: BronzeFixture;
  /** Runs a refresh (as-of 2026-06-30 unless given). */
  refresh(options?: Partial<RefreshOptions>): Promise<RefreshOutcome>;
  /** Rows of `sql` on gold.duckdb, opened read-only. */
  gold<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Rows of `sql` on the silver database, opened read-only (catalog alias `sdb`). */
  silver<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

export const AS_OF = new Date('2026-06-30T12:00:00Z');

/** The schema document of a sport table (namespace `sport`), testing/table-schemas.ts. */
export function sportTable(table: string, prefix = 'sport'): TableSchema {
  const t = sportSchemas(prefix).find((s) => s.source.table === table);
  if (!t) throw new Error(`not a sport table: ${table}`);
  return t;
}

/** The silver relation of a source table, e.g. rel('activities') = `silver.sport__public__activities`. */
export function rel(table: string, suffix = '', source = 'sport', schema = 'public'): string {
  return `silver.${silverName({ source, schema, table })}${suffix}`;
}

/**
 * A fresh sandbox. `env` overrides variables (e.g. LAKE_URL for an s3:// lake); by default the
 * lake is a temporary directory.
 */
export async function batchSandbox(env: Record<string, string> = {}): Promise<BatchSandbox> {
  const dir = await mkdtemp(path.join(tmpdir(), 'batch-test-'));
  const config = loadConfig({
    ...process.env,
    LAKE_URL: `file:${dir}/lake`,
    BATCH_STATE_DIR: `${dir}/state`,
    BATCH_GOLD_DB: `${dir}/gold/gold.duckdb`,
    BATCH_THREADS: '2',
    BATCH_MEMORY_LIMIT: '2GB',
    // A sandbox's gold stays in its files; tests of the PostgreSQL route enable it with their own schema.
    GOLD_PG_ENABLED: 'false',
    ...env,
  });
  const lake = openLake(config);
  const logger = createLogger('batch-test', process.env.LOG_LEVEL ?? 'warn');
  const read = async <T>(file: string, sql: string, attachAs?: string): Promise<T[]> => {
    const instance = await DuckDBInstance.create(attachAs ? ':memory:' : file, attachAs ? {} : { access_mode: 'READ_ONLY' });
    const conn = await instance.connect();
    try {
      if (attachAs) await conn.run(`ATTACH '${file}' AS ${attachAs} (READ_ONLY); USE ${attachAs}`);
      const reader = await conn.runAndReadAll(sql);
      return reader.getRowObjectsJson() as T[];
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  };
  return {
    dir,
    config,
    lake,
    fixture: new BronzeFixture(lake),
    refresh: (options = {}) => refresh(config, { asOf: AS_OF, logger, ...options }),
    gold: (sql) => read(config.batch.goldDb, sql),
    silver: (sql) => read(config.batch.silverDb, sql, 'sdb'),
    close: async () => {
      lake.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An employees row (source values), overridable. */
export function employee(id: number, extra: Row = {}): Row {
  return {
    employee_id: id,
    last_name: 'Martin',
    first_name: `Agent${id}`,
    birth_date: '1988-04-12',
    business_unit: 'Ventes',
    hire_date: '2020-01-06',
    gross_annual_salary_eur: 40000,
    contract_type: 'CDI',
    paid_leave_days: 25,
    home_address: '1 rue de la Loge',
    home_postcode: '34000',
    home_city: 'Montpellier',
    home_lat: 43.6108,
    home_lon: 3.8767,
    commute_mode: 'Marche/running',
    updated_at: new Date('2026-01-02T09:00:00Z'),
    ...extra,
  };
}

/** A commute_distances row with status OK. */
export function commute(id: number, distanceM: number | null, extra: Row = {}): Row {
  return {
    employee_id: id,
    origin_address: '1 rue de la Loge, 34000 Montpellier, France',
    destination_address: '1362 Av. des Platanes, 34970 Lattes, France',
    travel_mode: 'walking',
    distance_m: distanceM,
    duration_s: distanceM === null ? null : Math.round(distanceM / 1.4),
    provider: 'offline',
    status: distanceM === null ? 'NOT_FOUND' : 'OK',
    computed_at: new Date('2026-01-02T09:05:00Z'),
    ...extra,
  };
}

let nextActivity = 1;

/** An activities row: `km` at `kmh` (null km = a sport without distance, 1 h). */
export function activity(employeeId: number, start: string, km: number | null, extra: Row & { kmh?: number } = {}): Row {
  const { kmh = 10, ...rest } = extra;
  const seconds = km === null ? 3600 : Math.round((km / kmh) * 3600);
  const started = new Date(start);
  return {
    activity_id: nextActivity++,
    employee_id: employeeId,
    sport_type: 'Runing',
    started_at: started,
    ended_at: new Date(started.getTime() + seconds * 1000),
    elapsed_seconds: seconds,
    distance_m: km === null ? null : Math.round(km * 1000),
    comment: null,
    source: 'test',
    created_at: started,
    updated_at: started,
    ...rest,
  };
}

/** `n` activities of `employeeId`, one per day from `firstDay` (YYYY-MM-DD) at 07:00 UTC. */
export function dailyActivities(employeeId: number, firstDay: string, n: number, km = 8): Row[] {
  const day0 = new Date(`${firstDay}T07:00:00Z`).getTime();
  return Array.from({ length: n }, (_, i) => activity(employeeId, new Date(day0 + i * 86_400_000).toISOString(), km));
}

/**
 * SELECT list rendering every column of `table` as text in one canonical form, identical for
 * DuckDB (silver) and PostgreSQL (the source), so rows can be compared exactly: integers and
 * numerics as their decimal text (numeric with its declared scale), doubles in shortest form,
 * dates as YYYY-MM-DD, timestamps as microseconds since epoch, booleans as true/false.
 */
export function canonicalSelect(table: Pick<TableSchema, 'columns'>, engine: 'duckdb' | 'postgres'): string {
  return table.columns
    .map((c) => {
      const col = `"${c.name}"`;
      const t = c.pgType.toLowerCase();
      let expr: string;
      if (t === 'date') expr = engine === 'duckdb' ? `strftime(${col}, '%Y-%m-%d')` : `to_char(${col}, 'YYYY-MM-DD')`;
      else if (t.startsWith('timestamp')) expr = engine === 'duckdb' ? `CAST(epoch_us(${col}) AS VARCHAR)` : `((extract(epoch from ${col}) * 1000000)::bigint)::text`;
      else if (t === 'text' || t.startsWith('varchar')) expr = col;
      else expr = engine === 'duckdb' ? `CAST(${col} AS VARCHAR)` : `${col}::text`;
      return `${expr} AS ${col}`;
    })
    .join(', ');
}

/** A source row (fixture values) in the canonical text form of {@link canonicalSelect}. */
export function canonicalRow(table: Pick<TableSchema, 'columns'>, row: Row): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const c of table.columns) {
    const v = row[c.name];
    const t = c.pgType.toLowerCase();
    const numeric = /^numeric\s*\(\s*\d+\s*,\s*(\d+)\s*\)$/.exec(t);
    if (v === null || v === undefined) out[c.name] = null;
    else if (numeric) out[c.name] = Number(v).toFixed(Number(numeric[1]));
    else if (t.startsWith('timestamp')) out[c.name] = String(BigInt((v instanceof Date ? v : new Date(String(v))).getTime()) * 1000n);
    else out[c.name] = String(v);
  }
  return out;
}

/**
 * Plays a PostgreSQL workload into bronze (through the fixture) and keeps the rows the source
 * tables would hold after it, so silver can be compared with them.
 */
export class MirroredWorkload {
  readonly tables = new Map<string, Map<string, Row>>();
  constructor(readonly fixture: BronzeFixture) {}

  private keyOf(table: string, row: Row): string {
    return JSON.stringify(sportTable(table).primaryKey.map((k) => row[k]));
  }
  private rows(table: string): Map<string, Row> {
    const m = this.tables.get(table) ?? new Map<string, Row>();
    this.tables.set(table, m);
    return m;
  }
  snapshot(table: string, row: Row) {
    this.rows(table).set(this.keyOf(table, row), row);
    return this.fixture.snapshot(table, row);
  }
  insert(table: string, row: Row) {
    this.rows(table).set(this.keyOf(table, row), row);
    return this.fixture.insert(table, row);
  }
  update(table: string, key: Row, changes: Row) {
    const before = this.rows(table).get(this.keyOf(table, key));
    if (!before) throw new Error(`no ${table} row ${JSON.stringify(key)}`);
    const after = { ...before, ...changes };
    this.rows(table).delete(this.keyOf(table, before));
    this.rows(table).set(this.keyOf(table, after), after);
    return this.fixture.update(table, before, after);
  }
  delete(table: string, key: Row) {
    const before = this.rows(table).get(this.keyOf(table, key));
    if (!before) throw new Error(`no ${table} row ${JSON.stringify(key)}`);
    this.rows(table).delete(this.keyOf(table, key));
    return this.fixture.delete(table, before);
  }
  /** The table's rows in canonical form, ordered by primary key. */
  expected(table: string): Record<string, string | null>[] {
    const src = sportTable(table);
    const pk = src.primaryKey[0]!;
    return [...this.rows(table).values()].sort((a, b) => Number(a[pk]) - Number(b[pk])).map((r) => canonicalRow(src, r));
  }
}
