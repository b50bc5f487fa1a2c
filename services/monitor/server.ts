/**
 * The monitor's HTTP server (node:http; read-only). It binds MONITOR_HOST (127.0.0.1 by default)
 * and answers every route but `/healthz` and `/livez` only to a request carrying MONITOR_TOKEN
 * (auth.ts: bearer token, or basic auth with the token as password); others get 401 and a basic
 * challenge, so a browser asks for it. The gold figures it serves are the dashboard's, protected
 * against re-identification (products/sport-rewards/dashboard; docs/security.md).
 *
 * | route | answer |
 * |---|---|
 * | `GET /` | the dashboard page (public/), charts drawn with Chart.js served from node_modules |
 * | `GET /metrics` | Prometheus text format (metrics.ts) |
 * | `GET /healthz` | JSON: each dependency and service, how it was judged; 200 when all are up, 503 otherwise |
 * | `GET /livez` | 200 `ok` while the monitor process runs (container healthcheck) |
 * | `GET /api/status` | JSON: lag, slot, DLQ, throughput, batch, alerts, recent history |
 * | `GET /api/quality` | JSON: freshness, completeness and anomaly scores, checks, findings counted by type (no per-employee row) |
 * | `GET /api/alerts` | JSON: firing and pending alerts |
 * | `GET /api/gold/meta` | JSON: the gold build shown, months and business units for the filters |
 * | `GET /api/gold/dashboard?from=YYYY-MM&to=YYYY-MM&bu=` | JSON: the dashboard's datasets, protected (products/sport-rewards/dashboard/protect.ts: scheme figures per whole year and block of at least MONITOR_MIN_GROUP_SIZE people, amounts rounded to MONITOR_MONEY_ROUNDING_EUR) |
 *
 * `?fresh=1` on /metrics, /healthz, /api/status and /api/quality waits for a collection started
 * after the request instead of answering from the last one.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../common/logger.ts';
import { listenHttp } from '../common/health-server.ts';
import { AUTH_CHALLENGE, OPEN_ROUTES, isAuthorized } from './auth.ts';
import { GoldMissingError } from './gold-reader.ts';
import { DASHBOARD_CUBE_SQL, FilterError, GOLD_META_SQL, defaultPeriod, parseDashboardFilter } from '../../products/sport-rewards/dashboard/gold-queries.ts';
import { protectedDashboard, UnknownBusinessUnitError, type DashboardCube } from '../../products/sport-rewards/dashboard/protect.ts';
import type { Monitor } from './monitor.ts';
import type { MonitorSnapshot } from './collector.ts';

const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');
const CHART_JS = path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(PUBLIC_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/static/dashboard.js': { file: path.join(PUBLIC_DIR, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/static/dashboard.css': { file: path.join(PUBLIC_DIR, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  '/vendor/chart.js': { file: CHART_JS, type: 'text/javascript; charset=utf-8' },
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Summary of /healthz from a snapshot: overall status and the HTTP code. */
export function healthOf(s: MonitorSnapshot, monitor: { startedAt: number; sink: string }) {
  const deps = Object.values(s.dependencies);
  const services = Object.values(s.services);
  const ok = deps.every((d) => d.up) && services.every((h) => h?.up === true);
  return {
    code: ok ? 200 : 503,
    body: {
      status: ok ? 'ok' : 'degraded',
      checkedAt: new Date(s.at).toISOString(),
      dependencies: s.dependencies,
      services: s.services,
      cdcMetrics: s.cdc ? { url: s.cdc.url, up: s.cdc.up, error: s.cdc.error } : null,
      monitor: { startedAt: new Date(monitor.startedAt).toISOString(), alertSink: monitor.sink },
    },
  };
}

function statusBody(monitor: Monitor, s: MonitorSnapshot) {
  const b = s.batch;
  return {
    checkedAt: new Date(s.at).toISOString(),
    dependencies: s.dependencies,
    services: s.services,
    groups: s.groups.map((g) => ({ groupId: g.groupId, service: g.service, totalLag: g.lagUnknown ? null : g.totalLag, members: g.liveness?.members ?? null, state: g.liveness?.state ?? null, error: g.error ?? null, partitions: g.partitions })),
    replicationSlot: s.slot,
    deadLetters: s.deadLetters,
    topics: s.topicMessages,
    eventsPerSecond: s.eventsPerSecond,
    cdc: s.cdc,
    batch: b
      ? {
          lastRun: b.lastRun,
          lastSuccess: b.lastSuccess,
          runsByStatus: b.runsByStatus,
          quality: b.quality ? { state: b.quality.state, runId: b.quality.runId, status: b.quality.status, finishedAt: b.quality.finishedAt, checks: b.quality.checks, passed: b.quality.passed, skipped: b.quality.skipped, failed: b.quality.failed } : null,
          gold: b.gold,
        }
      : { error: s.batchError },
    alerts: monitor.alertsView(),
    history: monitor.history,
  };
}

/**
 * /api/quality: scores, checks and the number of row-level findings by type. The findings
 * themselves (employee ids, declared commute distances) are not served over HTTP (issue 15): they
 * stay in gold (v_quality_findings) for readers with the database's access control.
 */
function qualityBody(s: MonitorSnapshot) {
  const q = s.batch?.quality ?? null;
  return {
    checkedAt: new Date(s.at).toISOString(),
    run: q ? { runId: q.runId, status: q.status, finishedAt: q.finishedAt, state: q.state } : null,
    freshness: s.quality.freshness,
    completeness: s.quality.completeness,
    anomaly: s.quality.anomaly,
    checks: q ? { total: q.checks, passed: q.passed, skipped: q.skipped, failed: q.failed } : null,
    findings: { byType: s.quality.findingsByType, total: s.quality.findingsByType?.reduce((a, f) => a + f.findings, 0) ?? null },
    goldError: s.quality.goldError,
  };
}

async function goldMeta(monitor: Monitor) {
  const [build] = await monitor.gold.query(GOLD_META_SQL.build);
  const months = (await monitor.gold.query<{ month: string }>(GOLD_META_SQL.months)).map((r) => r.month);
  const businessUnits = (await monitor.gold.query<{ business_unit: string }>(GOLD_META_SQL.businessUnits)).map((r) => r.business_unit);
  return { build: build ?? null, months, businessUnits, defaultPeriod: defaultPeriod(months) };
}

/** The rows the dashboard is computed from, read from the gold file shown. */
export async function readDashboardCube(gold: Monitor['gold']): Promise<DashboardCube> {
  const [employees, kpi, sports, decisions] = await Promise.all([
    gold.query<DashboardCube['employees'][number]>(DASHBOARD_CUBE_SQL.employees),
    gold.query<DashboardCube['kpi'][number]>(DASHBOARD_CUBE_SQL.kpi),
    gold.query<DashboardCube['sports'][number]>(DASHBOARD_CUBE_SQL.sports),
    gold.query<DashboardCube['decisions'][number]>(DASHBOARD_CUBE_SQL.decisions),
  ]);
  return { employees, kpi, sports, decisions };
}

/** /api/gold/dashboard: the protected figures (products/sport-rewards/dashboard/protect.ts). */
async function dashboard(monitor: Monitor, query: URLSearchParams) {
  const meta = await goldMeta(monitor);
  const period = meta.defaultPeriod;
  if (!period) throw new HttpError(404, 'gold holds no month yet');
  const filter = parseDashboardFilter(query, period);
  const cube = await readDashboardCube(monitor.gold);
  const figures = protectedDashboard(cube, filter, { minGroupSize: monitor.config.monitor.minGroupSize, moneyStepEur: monitor.config.monitor.moneyRoundingEur });
  return { filter, build: meta.build, ...figures };
}

/**
 * Starts the server.
 * @returns the bound port and a close function.
 */
export async function startServer(monitor: Monitor, logger: Logger, host: string, port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const json = (res: http.ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://monitor');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET');
    if (!OPEN_ROUTES.has(url.pathname) && !isAuthorized(req.headers.authorization, monitor.config.monitor.token)) {
      res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'www-authenticate': AUTH_CHALLENGE });
      res.end(JSON.stringify({ error: 'authentication required: Authorization: Bearer <MONITOR_TOKEN>, or basic auth with MONITOR_TOKEN as the password' }));
      return;
    }
    const snap = async () => {
      if (url.searchParams.get('fresh') === '1') return monitor.fresh(started);
      await monitor.ready;
      return monitor.snapshot()!;
    };
    const asset = STATIC[url.pathname];
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
      res.end(await readFile(asset.file));
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        await snap();
        res.writeHead(200, { 'content-type': monitor.metrics.registry.contentType });
        res.end(await monitor.metrics.registry.metrics());
        return;
      }
      case '/livez':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
        return;
      case '/healthz': {
        const h = healthOf(await snap(), { startedAt: monitor.startedAt, sink: monitor.sink.description });
        json(res, h.code, h.body);
        return;
      }
      case '/api/status':
        json(res, 200, statusBody(monitor, await snap()));
        return;
      case '/api/quality': {
        json(res, 200, qualityBody(await snap()));
        return;
      }
      case '/api/alerts':
        json(res, 200, monitor.alertsView());
        return;
      case '/api/gold/meta':
        json(res, 200, await goldMeta(monitor));
        return;
      case '/api/gold/dashboard':
        json(res, 200, await dashboard(monitor, url.searchParams));
        return;
      default:
        throw new HttpError(404, `no route ${url.pathname}`);
    }
  };
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof FilterError || err instanceof UnknownBusinessUnitError ? 400 : err instanceof GoldMissingError ? 503 : 500;
      if (status === 500) logger.error({ err, url: req.url }, 'request failed');
      if (!res.headersSent) json(res, status, { error: (err as Error).message });
      else res.end();
    });
  });
  return listenHttp(server, host, port);
}
