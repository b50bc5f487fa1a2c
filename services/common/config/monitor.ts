/** Configuration of the monitor (services/monitor/README.md): /metrics, /healthz, /api/*, dashboard, alerts. */
import { z } from 'zod';
import { CDC_METRICS } from './cdc.ts';
import { defineBlock, variable } from './define.ts';
import { commaList, fromRepoRoot, httpListenerVariables, nonEmpty, secondsToMs } from './shared.ts';

/** The services the monitor can watch. */
export const WATCHED_SERVICES = ['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker'] as const;

const MONITOR_HTTP = httpListenerVariables('MONITOR', 9400, 'the monitor (dashboard, /metrics, /healthz, /api/*)');

export const monitorBlock = defineBlock({
  title: 'Monitor (`npm run monitor`)',
  fields: {
    monitor: {
      host: MONITOR_HTTP.host,
      port: MONITOR_HTTP.port,
      intervalMs: variable('MONITOR_INTERVAL_S', z.coerce.number().positive().max(3600).default(15).transform(secondsToMs), 'Seconds between collections and alert evaluations.'),
      services: variable(
        'MONITOR_SERVICES',
        commaList(z.enum(WATCHED_SERVICES))
          .default([...WATCHED_SERVICES])
          .transform((list) => [...new Set(list)]),
        'Services whose liveness /healthz reports and the service_down alert watches (comma-separated).',
      ),
      cdcMetricsUrl: variable('MONITOR_CDC_METRICS_URL', z.url().optional(), "The CDC service's /metrics; default http://<CDC_METRICS_HOST>:<CDC_METRICS_PORT>/metrics (none when the port is 0)."),
      cdcMetricsHost: CDC_METRICS.host,
      cdcMetricsPort: CDC_METRICS.port,
      stateFile: variable('MONITOR_STATE_FILE', nonEmpty.default('data/monitor/alert-state.json').transform(fromRepoRoot), 'Alert states kept across restarts (so an incident is announced once).'),
      historyPoints: variable('MONITOR_HISTORY_POINTS', z.coerce.number().int().min(2).max(100_000).default(240), 'Samples of lag and throughput kept in memory for the dashboard.'),
      token: variable('MONITOR_TOKEN', nonEmpty.default('dashboard-local-only'), 'Secret of every route but /healthz and /livez: `Authorization: Bearer <token>`, or basic auth with it as the password (services/monitor/auth.ts). The default is for the loopback-only local stack.', { secret: true }),
      minGroupSize: variable('MONITOR_MIN_GROUP_SIZE', z.coerce.number().int().min(2).max(1000).default(5), 'k: no figure of the dashboard API is computed from fewer than k employees (merged or suppressed; docs/security.md).'),
      moneyRoundingEur: variable('MONITOR_MONEY_ROUNDING_EUR', z.coerce.number().int().min(1).max(1_000_000).default(100), 'Salary-derived amounts of the dashboard API are rounded to this many EUR.'),
    },
    alerts: {
      webhookUrl: variable('ALERT_WEBHOOK_URL', z.url().optional(), 'Slack-compatible incoming webhook for alerts; unset = dry-run (printed and appended to ALERT_DRY_RUN_FILE).', { secret: true }),
      dryRunFile: variable('ALERT_DRY_RUN_FILE', nonEmpty.default('data/alerts-dry-run.jsonl').transform(fromRepoRoot), 'Dry-run: every alert message is appended here.'),
      lagThreshold: variable('ALERT_LAG_THRESHOLD', z.coerce.number().int().min(0).default(1000), 'consumer_lag fires above this many messages behind (per group, summed over partitions).'),
      slotLagBytes: variable('ALERT_SLOT_LAG_BYTES', z.coerce.number().int().min(0).default(64 * 1024 * 1024), 'replication_slot_lag fires above this many bytes of WAL retained.'),
      forMs: variable('ALERT_FOR_S', z.coerce.number().min(0).max(86_400).default(60).transform(secondsToMs), 'Seconds a service_down / lag condition must hold before it fires (DLQ and quality fire at once).'),
      goldMaxAgeMs: variable('ALERT_GOLD_MAX_AGE_S', z.coerce.number().min(0).max(30 * 86_400).default(900).transform(secondsToMs), "gold_stale fires when gold's figures are complete through a time older than this many seconds (or, without a watermark, gold was built longer ago)."),
    },
  },
  finish: ({ monitor: { cdcMetricsHost, cdcMetricsPort, ...monitor }, alerts }) => {
    const scrapeHost = cdcMetricsHost === '0.0.0.0' || cdcMetricsHost === '::' ? '127.0.0.1' : cdcMetricsHost;
    return {
      monitor: { ...monitor, cdcMetricsUrl: monitor.cdcMetricsUrl ?? (cdcMetricsPort > 0 ? `http://${scrapeHost}:${cdcMetricsPort}/metrics` : undefined) },
      alerts,
    };
  },
});
