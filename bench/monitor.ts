/**
 * `npm run bench -- monitor [--gold <gold.duckdb>] [--requests 40]`: latency of one dashboard
 * refresh (the /api/gold/meta + /api/gold/dashboard queries and the disclosure control of protect.ts) through the monitor's GoldReader
 * (gold.duckdb opened once, reopened only when the batch swaps a new file in), against the
 * baseline of opening gold.duckdb read-only for every request. Without --gold, a gold is built by
 * the batch job from the monitor's test fixture (24 employees, ~540 activities).
 */
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { DuckDBInstance } from '@duckdb/node-api';
import { GoldReader } from '../services/monitor/gold-reader.ts';
import { DASHBOARD_CUBE_SQL, GOLD_META_SQL, defaultPeriod } from '../products/sport-rewards/dashboard/gold-queries.ts';
import { protectedDashboard, type DashboardCube } from '../products/sport-rewards/dashboard/protect.ts';
import { fixtureSandbox } from '../services/monitor/testing/gold-fixture.ts';

const opts = new Command('bench monitor')
  .option('--gold <file>', 'an existing gold.duckdb (default: build the test fixture)')
  .option('--requests <n>', 'dashboard refreshes per variant', (v) => Number(v), 40)
  .parse(process.argv.slice(2), { from: 'user' })
  .opts<{ gold?: string; requests: number }>();

type Query = (sql: string, params?: Record<string, string>) => Promise<unknown[]>;

async function dashboardRefresh(query: Query): Promise<number> {
  await query(GOLD_META_SQL.build);
  const months = (await query(GOLD_META_SQL.months)) as { month: string }[];
  await query(GOLD_META_SQL.businessUnits);
  const period = defaultPeriod(months.map((m) => m.month))!;
  const [employees, kpi, sports, decisions] = await Promise.all(Object.values(DASHBOARD_CUBE_SQL).map((sql) => query(sql)));
  const cube = { employees, kpi, sports, decisions } as unknown as DashboardCube;
  const figures = protectedDashboard(cube, { ...period, bu: '' }, { minGroupSize: 5, moneyStepEur: 100 });
  return figures.costByBu.length + figures.activitiesByMonth.length;
}

/** Times `n` dashboard refreshes; `session` gives the query function of one refresh and its cleanup. */
async function measure(label: string, session: () => Promise<{ query: Query; done: () => void }>, n: number) {
  const once = async () => {
    const s = await session();
    try {
      await dashboardRefresh(s.query);
    } finally {
      s.done();
    }
  };
  await once(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(n / 2)]!;
  const p95 = times[Math.min(n - 1, Math.floor(n * 0.95))]!;
  console.log(`${label.padEnd(48)} median ${median.toFixed(1).padStart(7)} ms   p95 ${p95.toFixed(1).padStart(7)} ms`);
  return median;
}

const built = opts.gold ? null : await fixtureSandbox();
const gold = opts.gold ?? built!.sb.config.batch.goldDb;
console.log(`gold: ${gold}${built ? ' (test fixture, built by the batch job)' : ''}; ${opts.requests} dashboard refreshes per variant (3 meta + 4 dataset queries each, then protected)`);

const reader = new GoldReader(gold);
const cached = await measure('monitor GoldReader (open once, reopen on swap)', async () => ({ query: (sql, p) => reader.query(sql, p), done: () => undefined }), opts.requests);
const perRequest = await measure('baseline: open gold.duckdb for each refresh', async () => {
  const instance = await DuckDBInstance.create(gold, { access_mode: 'READ_ONLY', threads: '1' });
  const conn = await instance.connect();
  return {
    query: async (sql, p) => (await conn.runAndReadAll(sql, p)).getRowObjectsJson(),
    done: () => {
      conn.closeSync();
      instance.closeSync();
    },
  };
}, opts.requests);
console.log(`ratio: per-request open / GoldReader = ${(perRequest / cached).toFixed(1)}x; reader opened the file ${reader.opens} time(s)`);
reader.close();
await built?.sb.close();
