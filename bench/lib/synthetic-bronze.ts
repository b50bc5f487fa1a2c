/**
 * Generates a large, realistic bronze data set directly with DuckDB (no Kafka, no per-row
 * JavaScript), laid out exactly as docs/contracts/change-events.md says: Parquet files per
 * (topic, partition, offset range) with the contract's columns, Debezium JSON renderings in
 * key/before/after, a manifest per file. Used by `npm run bench -- batch`.
 *
 * Shape (deterministic, derived from the row index with DuckDB's hash()):
 * - `employees` employees (snapshot events), about 1 % without salary; commute modes mixed as in
 *   DOMAIN.md, with commute distances (some active commuters beyond the limits);
 * - `activities` activities over the `years` before `endDay`, one employee's sessions spread over
 *   time, sports with realistic distance and speed ranges (scripts/lib/activity-sim.ts), 0.1 %
 *   implausible (running at 40+ km/h) for the quarantine; the first 30 % arrive as snapshot
 *   events (op r), the rest as inserts (op c); then 2 % of the activities are updated (comment
 *   edited) and 0.5 % deleted (each delete followed by a tombstone offset, not written);
 * - 3 partitions per topic, files of `rowsPerFile` offsets (the bronze writer's default 10,000);
 * - the schema contract (issue 13): the tables' schema documents under `_schemas/<topic>/`, and
 *   each row's `schema_id` and `unavailable` columns; `schemaLink: false` writes bronze as it was
 *   before schemas travelled (no such columns; the documents are still in the lake).
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { sportSchemas } from '../../services/batch/testing/table-schemas.ts';
import { schemaKey } from '../../services/batch/table-schema.ts';
import { bronzeObjectKey, encodeManifest } from '../../services/common/contracts/bronze-object.ts';

export interface SyntheticOptions {
  activities: number;
  employees: number;
  /** Offsets per file (default 10,000). */
  rowsPerFile?: number;
  partitions?: number;
  /** Activities end before this day (UTC midnight). */
  endDay: Date;
  years?: number;
  topicPrefix?: string;
  threads?: number;
  /** Rows carry `schema_id` / `unavailable` (default true). */
  schemaLink?: boolean;
}

export interface SyntheticResult {
  files: number;
  events: number;
  bytes: number;
  activitiesEvents: number;
}

const TS = (expr: string) => `strftime((${expr}) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')`;

/** Writes the data set into the file: lake at `lakeDir` (which is emptied first). */
export async function generateSyntheticBronze(lakeDir: string, o: SyntheticOptions): Promise<SyntheticResult> {
  await rm(lakeDir, { recursive: true, force: true });
  await mkdir(lakeDir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(o.threads ?? 2),
    temp_directory: path.join(lakeDir, '.spill'),
    preserve_insertion_order: 'false',
  });
  const conn = await instance.connect();
  const prefix = o.topicPrefix ?? 'sport';
  const P = o.partitions ?? 3;
  const perFile = o.rowsPerFile ?? 10_000;
  const E = o.employees;
  const N = o.activities;
  const start = new Date(o.endDay.getTime() - (o.years ?? 5) * 365 * 86_400_000);
  const result: SyntheticResult = { files: 0, events: 0, bytes: 0, activitiesEvents: 0 };
  const schemas = new Map(sportSchemas(prefix).map((d) => [d.topic, d]));
  for (const doc of schemas.values()) {
    const file = path.join(lakeDir, ...schemaKey(doc.topic, doc.schemaId).split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(doc));
  }
  const link = (topic: string) => (o.schemaLink === false ? '' : `, '${schemas.get(topic)!.schemaId}' AS schema_id, CAST(NULL AS VARCHAR) AS unavailable`);
  try {
    await conn.run(`
      CREATE MACRO h(x, salt) AS CAST(hash(x * 7919 + salt) % 1000000007 AS BIGINT);
      CREATE MACRO frac(x, salt) AS (h(x, salt) % 1000000) / 1000000.0;
      CREATE TEMP TABLE emp AS
      SELECT 1001 + i AS employee_id,
        ['Martin','Bernard','Dubois','Thomas','Robert','Richard','Petit','Durand','Leroy','Moreau','Simon','Laurent','Lefebvre','Michel','Garcia','Roux'][1 + h(i, 1) % 16] AS last_name,
        ['Juliette','Laurence','Hugo','Léa','Lucas','Chloé','Nathan','Manon','Louis','Camille','Jules','Inès','Paul','Sarah','Arthur','Emma'][1 + h(i, 2) % 16] AS first_name,
        DATE '1965-01-01' + CAST(h(i, 3) % 13000 AS INTEGER) AS birth_date,
        ['Ventes','Ventes','Ventes','Marketing','R&D','R&D','R&D','Support','Finance','Ressources humaines','Juridique','Direction'][1 + h(i, 4) % 12] AS business_unit,
        DATE '2004-01-01' + CAST(h(i, 5) % 6200 AS INTEGER) AS hire_date,
        CASE WHEN h(i, 6) % 100 = 0 THEN NULL ELSE 25000 + (h(i, 7) % 5500000) / 100.0 END AS salary,
        CASE WHEN h(i, 8) % 10 < 8 THEN 'CDI' ELSE 'CDD' END AS contract_type,
        25 + CAST(h(i, 9) % 6 AS INTEGER) AS paid_leave_days,
        CAST(1 + h(i, 10) % 180 AS VARCHAR) || ' rue des Écoles' AS home_address,
        '34000' AS home_postcode, 'Montpellier' AS home_city,
        43.55 + frac(i, 11) * 0.15 AS home_lat, 3.80 + frac(i, 12) * 0.2 AS home_lon,
        ['Marche/running','Vélo/Trottinette/Autres','Vélo/Trottinette/Autres','Transports en commun','Transports en commun','véhicule thermique/électrique','véhicule thermique/électrique','véhicule thermique/électrique'][1 + h(i, 13) % 8] AS commute_mode,
        CAST(500 + frac(i, 14) * CASE WHEN h(i, 13) % 8 = 0 THEN 17000 ELSE 29000 END AS INTEGER) AS commute_m
      FROM range(${E}) t(i);
    `);
    const snapshotTs = start.getTime() - 86_400_000;
    // Employees and commute distances: snapshot rows.
    await writeTopic(conn, lakeDir, `${prefix}.public.employees`, P, perFile, `
      SELECT i AS seq, 'r' AS op, employee_id AS pk, ${snapshotTs} AS ts_ms, '{"employee_id":' || employee_id || '}' AS key, NULL::VARCHAR AS before,
        to_json(struct_pack(employee_id := employee_id, last_name := last_name, first_name := first_name,
          birth_date := CAST(birth_date - DATE '1970-01-01' AS INTEGER), business_unit := business_unit,
          hire_date := CAST(hire_date - DATE '1970-01-01' AS INTEGER),
          gross_annual_salary_eur := CASE WHEN salary IS NULL THEN NULL ELSE printf('%.2f', salary) END,
          contract_type := contract_type, paid_leave_days := paid_leave_days, home_address := home_address,
          home_postcode := home_postcode, home_city := home_city, home_lat := home_lat, home_lon := home_lon,
          commute_mode := commute_mode, updated_at := ${TS(`make_timestamptz(${snapshotTs} * 1000)`)}))::VARCHAR AS after
      FROM (SELECT row_number() OVER () - 1 AS i, * FROM emp)`, result, link(`${prefix}.public.employees`));
    await writeTopic(conn, lakeDir, `${prefix}.public.commute_distances`, P, perFile, `
      SELECT i AS seq, 'r' AS op, employee_id AS pk, ${snapshotTs} AS ts_ms, '{"employee_id":' || employee_id || '}' AS key, NULL::VARCHAR AS before,
        to_json(struct_pack(employee_id := employee_id, origin_address := home_address, destination_address := '1362 Av. des Platanes, 34970 Lattes, France',
          travel_mode := CASE commute_mode WHEN 'Marche/running' THEN 'walking' WHEN 'Vélo/Trottinette/Autres' THEN 'bicycling' WHEN 'Transports en commun' THEN 'transit' ELSE 'driving' END,
          distance_m := commute_m, duration_s := CAST(commute_m / 1.4 AS INTEGER), provider := 'offline', status := 'OK',
          computed_at := ${TS(`make_timestamptz(${snapshotTs} * 1000)`)}))::VARCHAR AS after
      FROM (SELECT row_number() OVER () - 1 AS i, * FROM emp)`, result, link(`${prefix}.public.commute_distances`));

    const spanMs = o.endDay.getTime() - start.getTime();
    const U = Math.floor(N / 50);
    const D = Math.floor(N / 200);
    // Every activity is a pure function of its index i; updates and deletes recompute it.
    await conn.run(`
      CREATE TEMP VIEW base AS
      SELECT i, 1000000000000 + i AS activity_id, 1001 + CAST(h(i, 21) % ${E} AS INTEGER) AS employee_id, sport, started_at,
        km, secs, i % 3 = 0 AS commented
      FROM (
        SELECT *, CASE WHEN km IS NULL THEN (45 + f2 * 60) * 60 ELSE km / kmh * 3600 END AS secs FROM (
          SELECT i, sport, started_at, f2,
            CASE sport WHEN 'Runing' THEN 4 + f1 * 17 WHEN 'Vélo' THEN 12 + f1 * 68 WHEN 'Randonnée' THEN 6 + f1 * 16
                       WHEN 'Natation' THEN 0.8 + f1 * 2.7 WHEN 'Marche' THEN 3 + f1 * 7 WHEN 'Triathlon' THEN 25.75 + f1 * 25.75 END AS km,
            (CASE sport WHEN 'Runing' THEN 8.5 + f2 * 5.5 WHEN 'Vélo' THEN 16 + f2 * 14 WHEN 'Randonnée' THEN 3.5 + f2 * 1.7
                        WHEN 'Natation' THEN 2 + f2 * 1.6 WHEN 'Marche' THEN 4.2 + f2 * 1.8 WHEN 'Triathlon' THEN 14 + f2 * 8 END)
              * CASE WHEN i % 1000 = 999 THEN 4 ELSE 1 END AS kmh
          FROM (
            SELECT i, ['Runing','Runing','Vélo','Vélo','Randonnée','Natation','Marche','Tennis','Football','Badminton','Escalade','Triathlon'][1 + h(i, 22) % 12] AS sport,
              make_timestamptz(CAST((${start.getTime()} + CAST(i AS DOUBLE) * ${spanMs / Math.max(N, 1)} + (h(i, 23) % 7200000)) * 1000 AS BIGINT)) AS started_at,
              frac(i, 24) AS f1, frac(i, 25) AS f2
            FROM range(${N}) t(i))))`);
    const actJson = (b: string, edited: boolean) => `to_json(struct_pack(
        activity_id := ${b}.activity_id, employee_id := ${b}.employee_id, sport_type := ${b}.sport,
        started_at := ${TS(`${b}.started_at`)},
        ended_at := ${TS(`${b}.started_at + to_seconds(CAST(${b}.secs AS BIGINT))`)},
        elapsed_seconds := CAST(${b}.secs AS INTEGER),
        distance_m := CAST(round(${b}.km * 1000) AS INTEGER),
        comment := ${edited ? "'Belle sortie ! (modifié)'" : `CASE WHEN ${b}.commented THEN 'Belle sortie !' END`},
        source := 'simulator-history',
        created_at := ${TS(`${b}.started_at`)},
        updated_at := ${TS(`${b}.started_at${edited ? ' + INTERVAL 2 DAY' : ''}`)}))::VARCHAR`;
    const endMs = o.endDay.getTime();
    await writeTopic(conn, lakeDir, `${prefix}.public.activities`, P, perFile, `
      SELECT b.i AS seq, CASE WHEN b.i < ${Math.floor(N * 0.3)} THEN 'r' ELSE 'c' END AS op, b.activity_id AS pk,
        epoch_ms(b.started_at) + 3 * 3600000 AS ts_ms,
        '{"activity_id":' || b.activity_id || '}' AS key, NULL::VARCHAR AS before, ${actJson('b', false)} AS after
      FROM base b
      UNION ALL
      SELECT ${N} + t.j, 'u', b.activity_id, ${endMs} + t.j, '{"activity_id":' || b.activity_id || '}', ${actJson('b', false)}, ${actJson('b', true)}
      FROM range(${U}) t(j) JOIN base b ON b.i = t.j * 50 + 7
      UNION ALL
      SELECT ${N + U} + t.k, 'd', b.activity_id, ${endMs} + ${U} + t.k, '{"activity_id":' || b.activity_id || '}', ${actJson('b', false)}, NULL
      FROM range(${D}) t(k) JOIN base b ON b.i = t.k * 200 + 11`, result, link(`${prefix}.public.activities`));
    result.activitiesEvents = N + U + D;
  } finally {
    conn.closeSync();
    instance.closeSync();
    await rm(path.join(lakeDir, '.spill'), { recursive: true, force: true });
  }
  return result;
}

/**
 * Writes one topic: `eventsSql` yields seq (source order), op, pk (partitioning), ts_ms (commit
 * time), key, before, after. Offsets follow seq per partition, a delete's tombstone takes one
 * more offset; files hold `perFile` offsets each.
 */
async function writeTopic(
  conn: DuckDBConnection,
  lakeDir: string,
  topic: string,
  P: number,
  perFile: number,
  eventsSql: string,
  result: SyntheticResult,
  linkColumns = '',
): Promise<void> {
  const [schema, table] = topic.split('.').slice(-2) as [string, string];
  await conn.run(`
    CREATE OR REPLACE TEMP TABLE ev AS
    SELECT seq, op, CAST(pk % ${P} AS INTEGER) AS part, ts_ms,
      sum(CASE WHEN op = 'd' THEN 2 ELSE 1 END) OVER (PARTITION BY pk % ${P} ORDER BY seq ROWS UNBOUNDED PRECEDING)
        - CASE WHEN op = 'd' THEN 2 ELSE 1 END AS "offset"
    FROM (SELECT seq, op, pk, ts_ms FROM (${eventsSql}))`);
  const staging = path.join(lakeDir, '.staging', topic);
  await mkdir(staging, { recursive: true });
  await conn.run(`
    COPY (
      SELECT e.part AS p_dir, e."offset" // ${perFile} AS f_dir,
        '${topic}' AS "topic", e.part AS "partition", e."offset", x.ts_ms + 40 AS kafka_timestamp_ms, x.key AS "key", x.op,
        1000000000 + x.seq * 64 AS lsn, 5000000 + x.seq AS tx_id, x.ts_ms AS source_ts_ms, x.ts_ms + 5 AS event_ts_ms,
        CASE WHEN x.op = 'r' THEN 'true' ELSE 'false' END AS "snapshot", '${schema}' AS source_schema, '${table}' AS source_table,
        x."before", x."after", make_timestamptz((x.ts_ms + 900) * 1000) AS ingested_at${linkColumns}
      FROM (${eventsSql}) x JOIN ev e USING (seq)
    ) TO '${staging}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (p_dir, f_dir), OVERWRITE_OR_IGNORE)`);
  const ranges = (
    await conn.runAndReadAll(`
      SELECT part, "offset" // ${perFile} AS f, min("offset") AS first, max("offset" + CASE WHEN op = 'd' THEN 1 ELSE 0 END) AS last, count(*) AS n,
        min(ts_ms) + 40 AS min_ts, max(ts_ms) + 40 AS max_ts
      FROM ev GROUP BY ALL`)
  ).getRowObjectsJS();
  for (const r of ranges) {
    const part = Number(r.part);
    const first = Number(r.first);
    const last = Number(r.last);
    const dir = path.join(staging, `p_dir=${part}`, `f_dir=${Number(r.f)}`);
    const parts = (await readdir(dir)).filter((f) => f.endsWith('.parquet')).map((f) => path.join(dir, f));
    const range = { topic, partition: part, firstOffset: first, lastOffset: last };
    const key = bronzeObjectKey(range, Number(r.min_ts));
    const target = path.join(lakeDir, ...key.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    if (parts.length === 1) await rename(parts[0]!, target);
    else {
      // A partitioned COPY may flush one directory into several files: one range, one file.
      const list = parts.map((f) => `'${f}'`).join(', ');
      await conn.run(`COPY (SELECT * FROM read_parquet([${list}], hive_partitioning = false) ORDER BY "offset") TO '${target}' (FORMAT parquet, COMPRESSION zstd)`);
    }
    const { size } = await stat(target);
    const manifest = encodeManifest({ ...range, key, rows: Number(r.n), bytes: size, minKafkaTimestampMs: Number(r.min_ts), maxKafkaTimestampMs: Number(r.max_ts), writtenAt: new Date().toISOString() });
    const manifestFile = path.join(lakeDir, ...manifest.key.split('/'));
    await mkdir(path.dirname(manifestFile), { recursive: true });
    await writeFile(manifestFile, manifest.body);
    result.files++;
    result.events += Number(r.n);
    result.bytes += size;
  }
  await rm(path.join(lakeDir, '.staging'), { recursive: true, force: true });
}
