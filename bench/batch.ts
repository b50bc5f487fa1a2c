/**
 * `npm run bench -- batch [--sizes 1000000,10000000] [--dir <dir>] [--keep] [--reuse] [--schema-link both|on|off]`
 * (`--keep` leaves the generated data in place, `--reuse` uses it instead of generating again;
 * `--schema-link`: bronze with the schema link, i.e. `schema_id` / `unavailable` on every row
 * (issue 13), without it (bronze as written before, decoded with the lake's schema document), or
 * both, measured in the same run; default both)
 *
 * For each size: generates that many activities in bronze (bench/lib/synthetic-bronze.ts, with
 * employees, commute distances, updates and deletes), then measures in the same run
 * 1. the floor: DuckDB's bare scan and aggregation of the same Parquet (parse employee, start and
 *    distance from the `after` JSON, count and sum per employee and month), best of two;
 * 2. `refresh --full` (services/batch): silver typed current state with dedup/compaction,
 *    history, quarantine, gold, the quality suite, the atomic swap and the gold Parquet export.
 * Prints both and their ratio (wall clock), plus the CPU seconds of each (user + system of the
 * process) and their ratio, which shows whether a change saved work when other processes share
 * the machine. Targets (issue 6): 10M activities within 3x the floor, 1M within 15 s.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../services/common/config.ts';
import { createLogger } from '../services/common/logger.ts';
import { refresh } from '../services/batch/refresh.ts';
import { generateSyntheticBronze } from './lib/synthetic-bronze.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const sizes = (arg('--sizes') ?? '1000000,10000000').split(',').map((s) => Number(s.replace(/_/g, '')));
const baseDir = arg('--dir') ?? path.join(tmpdir(), 'bench-batch');
const keep = args.includes('--keep');
const reuse = args.includes('--reuse');
const linkModes = ({ both: [true, false], on: [true], off: [false] } as Record<string, boolean[]>)[arg('--schema-link') ?? 'both'] ?? [true, false];
const endDay = new Date(Date.UTC(2026, 10, 1));

/** Wall and CPU seconds of the process (user + system, every DuckDB thread) since `start`. */
function elapsed(start: { wall: number; cpu: NodeJS.CpuUsage }): { wall: number; cpu: number } {
  const cpu = process.cpuUsage(start.cpu);
  return { wall: (performance.now() - start.wall) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}
const started = () => ({ wall: performance.now(), cpu: process.cpuUsage() });

async function floor(lakeDir: string, threads: number | undefined): Promise<{ wall: number; cpu: number }> {
  const instance = await DuckDBInstance.create(':memory:', threads ? { threads: String(threads) } : {});
  const conn = await instance.connect();
  const glob = path.join(lakeDir, 'bronze', '*.public.activities', '*', '*.parquet');
  const sql = `SELECT r.employee_id, date_trunc('month', CAST(r.started_at AS TIMESTAMPTZ)) AS month, count(*) AS n, sum(r.distance_m) AS distance_m
    FROM (SELECT from_json("after", '{"employee_id":"BIGINT","started_at":"VARCHAR","distance_m":"BIGINT"}') AS r FROM read_parquet('${glob}'))
    GROUP BY ALL`;
  let best = { wall: Infinity, cpu: Infinity };
  for (let i = 0; i < 2; i++) {
    const t0 = started();
    await conn.run(`CREATE OR REPLACE TEMP TABLE floor_result AS ${sql}`);
    const run = elapsed(t0);
    if (run.wall < best.wall) best = run;
  }
  conn.closeSync();
  instance.closeSync();
  return best;
}

const logger = createLogger('bench-batch', 'warn');
const rows: string[] = [];
const byteRows: string[] = [];
console.log(`batch benchmark: sizes ${sizes.join(', ')}; schema link ${linkModes.map((l) => (l ? 'on' : 'off')).join(' and ')}; data under ${baseDir}`);
for (const n of sizes) {
  const employees = Math.max(160, Math.round(n / 500));
  const generated = new Map<boolean, { files: number; events: number; bytes: number }>();
  for (const link of linkModes) {
    const dir = path.join(baseDir, `n${n}${link ? '' : '-nolink'}`);
    const lakeDir = path.join(dir, 'lake');
    await mkdir(dir, { recursive: true });
    const t0 = performance.now();
    const summaryFile = path.join(dir, 'generated.json');
    const gen: { files: number; events: number; bytes: number } =
      reuse && existsSync(summaryFile)
        ? JSON.parse(readFileSync(summaryFile, 'utf8'))
        : await generateSyntheticBronze(lakeDir, { activities: n, employees, endDay, schemaLink: link });
    writeFileSync(summaryFile, JSON.stringify(gen));
    generated.set(link, gen);
    const genS = (performance.now() - t0) / 1000;
    console.log(
      `\n${n.toLocaleString('en')} activities (${employees.toLocaleString('en')} employees), schema link ${link ? 'on' : 'off'}: ${gen.files} bronze files, ${gen.events.toLocaleString('en')} events, ${(gen.bytes / 1e6).toFixed(0)} MB, ${reuse ? 'reused' : 'generated'} in ${genS.toFixed(1)} s`,
    );

    const config = loadConfig({
      ...process.env,
      LAKE_URL: `file:${lakeDir}`,
      BATCH_STATE_DIR: path.join(dir, 'state'),
      BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
      LOG_LEVEL: 'warn',
    });
    // Every measured refresh starts from empty state, like a first run or a backfill on a new machine.
    await rm(path.join(dir, 'state'), { recursive: true, force: true });
    await rm(path.join(dir, 'gold.duckdb'), { force: true });
    const floorRun = await floor(lakeDir, config.batch.threads);
    const floorS = floorRun.wall;
    console.log(`  floor (bare scan + aggregation of the activities Parquet): ${floorS.toFixed(2)} s (cpu ${floorRun.cpu.toFixed(2)} s)`);
    const t1 = started();
    const outcome = await refresh(config, {
      full: true,
      asOf: endDay,
      logger,
      progress: (line) => {
        if (line.startsWith('✔')) console.log(`    ${line}`);
      },
    });
    const refreshRun = elapsed(t1);
    const refreshS = refreshRun.wall;
    const ratio = refreshS / floorS;
    const target = n >= 10_000_000 ? `<= 3x floor: ${ratio <= 3 ? 'met' : 'NOT met'}` : n <= 1_000_000 ? `<= 15 s: ${refreshS <= 15 ? 'met' : 'NOT met'}` : '';
    console.log(
      `  refresh --full: ${refreshS.toFixed(2)} s (${outcome.status}, silver activities ${outcome.entry.rowCounts['silver.sport__public__activities']?.toLocaleString('en')}), ratio ${ratio.toFixed(2)}x the floor ${target ? `(target ${target})` : ''}`,
    );
    // CPU seconds vary far less than wall seconds when other work shares the machine.
    console.log(`  cpu: refresh ${refreshRun.cpu.toFixed(2)} s, floor ${floorRun.cpu.toFixed(2)} s, ratio ${(refreshRun.cpu / floorRun.cpu).toFixed(2)}x`);
    rows.push(
      `| ${n.toLocaleString('en')} | ${link ? 'on' : 'off'} | ${gen.files} | ${(gen.bytes / 1e6).toFixed(0)} MB | ${floorS.toFixed(2)} s | ${refreshS.toFixed(2)} s | ${ratio.toFixed(2)}x | ${refreshRun.cpu.toFixed(1)} s / ${floorRun.cpu.toFixed(1)} s (${(refreshRun.cpu / floorRun.cpu).toFixed(2)}x) | ${target} |`,
    );
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
  const on = generated.get(true);
  const off = generated.get(false);
  if (on && off) byteRows.push(`| ${n.toLocaleString('en')} | ${(on.bytes / on.events).toFixed(1)} | ${(off.bytes / off.events).toFixed(1)} | ${((on.bytes - off.bytes) / on.events).toFixed(2)} |`);
}
console.log('\n| activities | schema link | bronze files | bronze size | floor (scan+agg) | refresh --full | ratio | cpu refresh / floor | target |');
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---|');
for (const r of rows) console.log(r);
if (byteRows.length) {
  console.log('\nBronze bytes per event (Parquet, zstd), with and without the schema link columns:');
  console.log('| activities | with link | without | added per event |');
  console.log('|---:|---:|---:|---:|');
  for (const r of byteRows) console.log(r);
}
