/**
 * The monitor on the real stack: /healthz and /metrics against a real CDC service, Kafka consumer
 * groups and PostgreSQL slot; /api/quality against a gold built by the real batch job; alerts
 * fired once per incident (dry-run file and a local Slack-compatible webhook), across restarts
 * and webhook failures.
 */
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConsumer, KafkaAdmin, type KafkaProducer } from '../common/kafka/index.ts';
import { testProducer, kafkaTarget } from '../../tests/support/kafka.ts';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { encodeRunLogLine, type RunStatus } from '../common/contracts/run-log.ts';
import { runLogEntryFixture } from '../common/contracts/testing/fixtures.ts';
import { readRunLog } from '../common/status/batch-state.ts';
import type { BatchSandbox } from '../batch/testing/batch-kit.ts';
import { adminClient, dropSlots, eventually, runId, startCdc, type InProcessCdc } from '../cdc/testing/harness.ts';
import { startFakeSlack, type FakeSlack } from '../../tests/support/fake-slack.ts';
import { Monitor } from './monitor.ts';
import { startServer } from './server.ts';
import { fixtureSandbox } from './testing/gold-fixture.ts';

const id = runId();
const PREFIX = `mon${id}`;
const SLOT = `mon_${id}`;
const GROUPS = { bronze: `${PREFIX}-bronze`, slack: `${PREFIX}-slack`, distance: `${PREFIX}-distance` };
const ACTIVITIES = `${PREFIX}.public.activities`;
const DLQ = `${ACTIVITIES}.dlq`;
const PROBE_EMPLOYEE = 990_001;

let dir: string;
let sb: BatchSandbox;
let cdc: InProcessCdc;
let db: pg.Client;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const logger = createLogger('monitor-test', process.env.LOG_LEVEL ?? 'warn');

function monitorConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ...process.env,
    KAFKA_TOPIC_PREFIX: PREFIX,
    BRONZE_CONSUMER_GROUP: GROUPS.bronze,
    SLACK_CONSUMER_GROUP: GROUPS.slack,
    DISTANCE_CONSUMER_GROUP: GROUPS.distance,
    CDC_SLOT_NAME: SLOT,
    LAKE_URL: 's3://lakehouse/monitor-test',
    BATCH_STATE_DIR: sb.config.batch.stateDir,
    BATCH_GOLD_DB: sb.config.batch.goldDb,
    MONITOR_CDC_METRICS_URL: `http://127.0.0.1:${cdc.service.metricsPort}/metrics`,
    MONITOR_INTERVAL_S: '3600',
    MONITOR_STATE_FILE: path.join(dir, 'alert-state.json'),
    ALERT_DRY_RUN_FILE: path.join(dir, 'alerts.jsonl'),
    ALERT_FOR_S: '0',
    ALERT_LAG_THRESHOLD: '3',
    ...overrides,
  });
}

async function startMonitor(config: Config) {
  const monitor = new Monitor(config, logger);
  const server = await startServer(monitor, logger, '127.0.0.1', 0);
  await monitor.start();
  const base = `http://127.0.0.1:${server.port}`;
  const headers = { authorization: `Bearer ${config.monitor.token}` };
  return {
    monitor,
    base,
    get: async (p: string) => {
      const res = await fetch(`${base}${p}`, { headers });
      return { status: res.status, text: await res.text() };
    },
    json: async <T = Record<string, unknown>>(p: string) => {
      const res = await fetch(`${base}${p}`, { headers });
      return { status: res.status, body: (await res.json()) as T };
    },
    stop: async () => {
      await server.close();
      await monitor.stop();
    },
  };
}

async function alertLines(file = path.join(dir, 'alerts.jsonl')): Promise<{ kind: string; key: string; message: { text: string } }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim() ? text.trim().split('\n').map((l) => JSON.parse(l)) : [];
}

/** A consumer in `groupId` on `topic`, so the group has a live member. @returns its stop. */
async function joinGroup(groupId: string, topic: string): Promise<{ disconnect(): Promise<void> }> {
  const consumer = createConsumer(loadConfig(), 'monitor-test', createLogger('monitor-test', 'silent'), { groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const joined = new Promise<void>((r) => consumer.once('consumer:group:join', () => r()));
  const stream = await consumer.consume({ topics: [topic], mode: 'latest' });
  stream.resume();
  await joined;
  return { disconnect: async () => void (await stream.close(), await consumer.close(true)) };
}

async function highWatermark(topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'monitor-test-'));
  ({ sb } = await fixtureSandbox());
  db = await adminClient(loadConfig());
  await db.query('DELETE FROM employees WHERE employee_id = $1', [PROBE_EMPLOYEE]);
  cdc = await startCdc({ KAFKA_TOPIC_PREFIX: PREFIX, CDC_SLOT_NAME: SLOT, CDC_TABLES: 'public.employees' });
  const base = loadConfig();
  admin = KafkaAdmin.create(base, `monitor-test-${id}`, createLogger('monitor-test', 'silent'));
  producer = testProducer(kafkaTarget(base.kafka.brokers));
  await admin.ensureTopic(ACTIVITIES, 3);
});

afterAll(async () => {
  await producer?.close();
  await admin?.close();
  await cdc?.stop().catch(() => undefined);
  if (db) {
    await db.query('DELETE FROM employees WHERE employee_id = $1', [PROBE_EMPLOYEE]);
    await dropSlots(db, [SLOT]);
    await db.end();
  }
  await sb?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('access to the monitor', () => {
  it('answers 401 without the token on every route but the probes, and serves the token given as bearer or basic auth', async () => {
    const m = await startMonitor(monitorConfig({ MONITOR_TOKEN: 'test-monitor-token' }));
    try {
      for (const route of ['/', '/static/dashboard.js', '/metrics', '/api/status', '/api/quality', '/api/alerts', '/api/gold/meta', '/api/gold/dashboard', '/no-such-route']) {
        for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${Buffer.from('test-monitor-token:').toString('base64')}`]) {
          const res = await fetch(`${m.base}${route}`, { headers: authorization ? { authorization } : {} });
          expect({ route, authorization, status: res.status }).toEqual({ route, authorization, status: 401 });
          expect(res.headers.get('www-authenticate')).toBe('Basic realm="sport-lakehouse monitor", charset="UTF-8"');
          const text = await res.text();
          expect(text).not.toContain('lakehouse_');
          expect(text).not.toContain('Nom');
        }
      }
      const bearer = await fetch(`${m.base}/metrics`, { headers: { authorization: 'Bearer test-monitor-token' } });
      expect(bearer.status).toBe(200);
      expect(await bearer.text()).toContain('lakehouse_up');
      const basic = await fetch(`${m.base}/api/gold/meta`, { headers: { authorization: `Basic ${Buffer.from('prometheus:test-monitor-token').toString('base64')}` } });
      expect(basic.status).toBe(200);
      // The probes answer without it.
      expect([200, 503]).toContain((await fetch(`${m.base}/healthz`)).status);
      expect(await (await fetch(`${m.base}/livez`)).text()).toBe('ok\n');
    } finally {
      await m.stop();
    }
  });
});

describe('health and metrics on the real stack', () => {
  it('tells each dependency and service apart, and how it knows', async () => {
    const m = await startMonitor(monitorConfig());
    try {
      let h = await m.json<{ status: string; dependencies: Record<string, { up: boolean }>; services: Record<string, { up: boolean | null; how: string; detail: string }> }>('/healthz?fresh=1');
      expect(h.status).toBe(503);
      expect(h.body.status).toBe('degraded');
      expect(Object.fromEntries(Object.entries(h.body.dependencies).map(([k, v]) => [k, v.up]))).toEqual({ postgres: true, kafka: true, lake: true });
      expect(h.body.services.cdc).toEqual({ up: true, how: 'replication slot active (pg_replication_slots)', detail: expect.stringMatching(new RegExp(`^slot ${SLOT} held by pid \\d+; metrics endpoint answers$`)) });
      expect(h.body.services['slack-notifier']).toEqual({ up: false, how: 'consumer group has live members (DescribeGroups)', detail: `group ${GROUPS.slack} has no live member (Dead)` });

      const consumer = await joinGroup(GROUPS.slack, ACTIVITIES);
      try {
        h = await m.json('/healthz?fresh=1');
        expect(h.body.services['slack-notifier']).toMatchObject({ up: true, detail: `group ${GROUPS.slack}: 1 member(s), Stable` });
      } finally {
        await consumer.disconnect();
      }
      h = await m.json('/healthz?fresh=1');
      expect(h.body.services['slack-notifier']?.up).toBe(false);
      expect((await m.get('/livez')).text).toBe('ok\n');
    } finally {
      await m.stop();
    }
  });

  it('relays CDC events and exposes slot lag, consumer lag and DLQ counts in Prometheus format', async () => {
    const m = await startMonitor(monitorConfig());
    try {
      await db.query(
        `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type,
           paid_leave_days, home_address, home_postcode, home_city, commute_mode)
         VALUES ($1, 'Sonde', 'Moniteur', '1990-01-01', 'Support', '2024-01-01', 30000, 'CDI', 25, '1 rue Test', '34000', 'Montpellier', 'Marche/running')`,
        [PROBE_EMPLOYEE],
      );
      const metric = (text: string, line: RegExp) => Number(line.exec(text)?.[1] ?? NaN);
      const text = await eventually('the insert relayed from the CDC metrics', async () => {
        const t = (await m.get('/metrics?fresh=1')).text;
        return metric(t, /^lakehouse_cdc_events\{op="c"\} (\d+)$/m) >= 1 ? t : null;
      });
      expect(text).toMatch(/^# TYPE lakehouse_consumer_group_lag_messages gauge$/m);
      expect(text).toContain(`lakehouse_up{component="postgres"} 1`);
      expect(text).toContain(`lakehouse_up{component="cdc"} 1`);
      expect(text).toContain(`lakehouse_up{component="bronze-writer"} 0`);
      expect(text).toContain('lakehouse_cdc_up 1');
      expect(text).toContain(`lakehouse_replication_slot_active{slot="${SLOT}"} 1`);
      expect(metric(text, new RegExp(`^lakehouse_replication_slot_lag_bytes\\{slot="${SLOT}"\\} (\\d+)$`, 'm'))).toBeGreaterThanOrEqual(0);
      const employeesTopic = `${PREFIX}.public.employees`;
      const written = await highWatermark(employeesTopic);
      expect(written).toBeGreaterThanOrEqual(1);
      expect(text).toContain(`lakehouse_topic_messages{topic="${employeesTopic}"} ${written}`);
      // Nothing consumed the employees topic: the bronze and distance groups are behind by all of it.
      expect(text).toContain(`lakehouse_consumer_group_lag_messages{group="${GROUPS.distance}"} ${written}`);
      expect(text).toMatch(/^lakehouse_quality_score\{dimension="completeness"\} 0\.9286$/m);
      expect(text).toMatch(/^lakehouse_batch_runs\{status="success"\} 1$/m);
      expect(text).toMatch(/^lakehouse_batch_duration_seconds_count\{status="success"\} 1$/m);
    } finally {
      await m.stop();
    }
  });
});

describe('/api/quality', () => {
  it('scores freshness, completeness and anomaly from the batch outputs and lists the findings of gold', async () => {
    const m = await startMonitor(monitorConfig());
    try {
      const { status, body } = await m.json<Record<string, any>>('/api/quality?fresh=1'); // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(status).toBe(200);
      const [run] = await sb.gold<{ run_id: string }>('SELECT run_id FROM build_info');
      expect(body.run).toMatchObject({ runId: run!.run_id, status: 'success', state: 'warn' });
      const newest = (await sb.silver<{ ts: number }>(`SELECT max(_source_ts_ms)::BIGINT AS ts FROM (SELECT _source_ts_ms FROM state.sport__public__activities UNION ALL SELECT _source_ts_ms FROM state.sport__public__employees
        UNION ALL SELECT _source_ts_ms FROM state.sport__public__declared_sports UNION ALL SELECT _source_ts_ms FROM state.sport__public__commute_distances)`))[0]!.ts;
      expect(body.freshness).toMatchObject({ newestEventAt: new Date(Number(newest)).toISOString(), limitHours: 36 });
      const counts = (await sb.gold<{ silver: number; quarantined: number }>(
        `SELECT (row_counts->>'silver.sport__public__employees')::INTEGER + (row_counts->>'silver.sport__public__declared_sports')::INTEGER
           + (row_counts->>'silver.sport__public__activities')::INTEGER + (row_counts->>'silver.sport__public__commute_distances')::INTEGER AS silver, (row_counts->>'silver.quarantine')::INTEGER AS quarantined FROM build_info`,
      ))[0]!;
      expect(body.completeness).toEqual({
        score: 0.9286,
        status: 'warn',
        rows: { silver: counts.silver, quarantined: 2, score: Math.round((1 - 2 / counts.silver) * 10_000) / 10_000 },
        commuteDistances: { qualifyingEmployees: 14, withDistance: 13, score: 0.9286 },
      });
      const report = JSON.parse(await readFile(path.join(sb.config.batch.reportDir, 'latest.json'), 'utf8')) as { results: { type: string; status: string; observed: string }[] };
      const volume = report.results.find((r) => r.type === 'volume_anomaly')!;
      expect(body.anomaly.volume).toMatchObject({ status: volume.status, observed: volume.observed, maxZScore: 3 });
      expect(body.anomaly.costDrift).toMatchObject({ status: 'skipped', score: null, maxPct: 20 });
      const findings = await sb.gold<{ finding_type: string; n: number }>('SELECT finding_type, count(*)::INTEGER AS n FROM v_quality_findings GROUP BY 1 ORDER BY 2 DESC, 1');
      expect(body.findings.byType.map((f: { finding_type: string; findings: number }) => ({ finding_type: f.finding_type, n: f.findings }))).toEqual(findings);
      expect(findings).toEqual([
        { finding_type: 'quarantined_row', n: 2 },
        { finding_type: 'commute_distance_missing', n: 1 },
        { finding_type: 'declared_commute_beyond_limit', n: 1 },
      ]);
      expect(body.findings.total).toBe(4);
      // The findings themselves (employee ids, declared commute distances) stay in gold (issue 15).
      expect(body.findings.recent).toBeUndefined();
      expect(JSON.stringify(body)).not.toMatch(/employee_id|1004|40\.000 km/);
      const inGold = await sb.gold<{ employee_id: number }>("SELECT employee_id FROM v_quality_findings WHERE finding_type = 'declared_commute_beyond_limit'");
      expect(inGold.map((r) => Number(r.employee_id))).toEqual([1004]);
      expect(body.checks.failed.map((f: { id: string }) => f.id)).toEqual(expect.arrayContaining(['gold.sport_bonus.declared_commute_beyond_limit', 'gold.sport_bonus.active_commute_distance_missing']));
    } finally {
      await m.stop();
    }
  });
});

describe('alerts', () => {
  it('fire once per incident for a dead letter and a lag, resolve once, and survive a restart', async () => {
    const dryRun = path.join(dir, 'alerts-once.jsonl');
    const config = monitorConfig({ ALERT_DRY_RUN_FILE: dryRun, MONITOR_STATE_FILE: path.join(dir, 'state-once.json'), MONITOR_SERVICES: 'cdc' });
    const ours = async () => (await alertLines(dryRun)).filter((l) => l.key === `dlq_not_empty:${DLQ}` || l.key === `consumer_lag:${GROUPS.slack}`).map((l) => `${l.kind} ${l.message.text}`);

    // The Slack group is caught up (offsets at the end), so only new messages count.
    await admin.setOffsets(GROUPS.slack, ACTIVITIES, (await admin.fetchTopicOffsets(ACTIVITIES)).map((p) => ({ partition: p.partition, offset: p.high })));
    let m = await startMonitor(config);
    try {
      expect(await ours()).toEqual([]);
      await admin.ensureTopic(DLQ, 1);
      await producer.send({ messages: [{ topic: DLQ, key: '{"activity_id":1}', value: 'not json', headers: { 'dlq.reason': 'invalid_json' } }] });
      await producer.send({ messages: Array.from({ length: 5 }, (_, i) => ({ topic: ACTIVITIES, key: `{"activity_id":${i}}`, value: '{}' })) });
      await m.monitor.refresh();
      const firing = [
        `firing :warning: FIRING [warning] consumer_lag (group=${GROUPS.slack}): consumer group ${GROUPS.slack} is 5 messages behind (threshold 3); most on ${ACTIVITIES}[`,
        `firing :warning: FIRING [warning] dlq_not_empty (topic=${DLQ}): dead-letter topic ${DLQ} holds 1 message(s)`,
      ];
      const lines = await ours();
      expect(lines).toHaveLength(2);
      expect(lines[0]!.startsWith(firing[0]!)).toBe(true);
      expect(lines[1]).toBe(firing[1]);

      // The incidents go on (a second dead letter, more lag): no new message.
      await producer.send({ messages: [{ topic: DLQ, key: null, value: 'again' }] });
      await producer.send({ messages: [{ topic: ACTIVITIES, key: 'x', value: '{}' }] });
      await m.monitor.refresh();
      await m.monitor.refresh();
      expect(await ours()).toHaveLength(2);
      const alerts = (await m.json<{ firing: { key: string; summary: string }[] }>('/api/alerts')).body;
      expect(alerts.firing.find((a) => a.key === `dlq_not_empty:${DLQ}`)?.summary).toBe(`dead-letter topic ${DLQ} holds 2 message(s)`);
      expect((await m.get('/metrics')).text).toContain(`lakehouse_alert_firing{rule="dlq_not_empty",key="dlq_not_empty:${DLQ}"} 1`);
      expect((await m.get('/metrics')).text).toContain(`lakehouse_dlq_messages{topic="${DLQ}"} 2`);
    } finally {
      await m.stop();
    }

    // A restarted monitor remembers the incidents: nothing is announced again.
    m = await startMonitor(config);
    try {
      await m.monitor.refresh();
      expect(await ours()).toHaveLength(2);

      // Ops consume the lag and purge the dead letters: each incident resolves, once.
      await admin.setOffsets(GROUPS.slack, ACTIVITIES, (await admin.fetchTopicOffsets(ACTIVITIES)).map((p) => ({ partition: p.partition, offset: p.high })));
      // DeleteRecords up to the high watermark (offset -1), as `kafka-delete-records` does.
      await admin.client.deleteRecords({ topics: [{ name: DLQ, partitions: [{ partition: 0, offset: -1n }] }] });
      await m.monitor.refresh();
      await m.monitor.refresh();
      const lines = await ours();
      expect(lines).toHaveLength(4);
      expect(lines[2]).toMatch(new RegExp(`^resolved :white_check_mark: RESOLVED consumer_lag \\(group=${GROUPS.slack}\\) after \\d+ s: was "consumer group ${GROUPS.slack} is 6 messages behind`));
      expect(lines[3]).toMatch(new RegExp(`^resolved :white_check_mark: RESOLVED dlq_not_empty \\(topic=${DLQ.replaceAll('.', '\\.')}\\) after \\d+ s: was "dead-letter topic ${DLQ.replaceAll('.', '\\.')} holds 2 message\\(s\\)"$`));
      expect((await m.get('/metrics')).text).toContain(`lakehouse_dlq_messages{topic="${DLQ}"} 0`);
    } finally {
      await m.stop();
    }
  });

  it('post service-down and quality alerts to a Slack-compatible webhook, keeping them through a webhook outage', async () => {
    const slack: FakeSlack = await startFakeSlack();
    const config = monitorConfig({ ALERT_WEBHOOK_URL: slack.url, MONITOR_STATE_FILE: path.join(dir, 'state-webhook.json'), MONITOR_SERVICES: 'cdc,slack-notifier' });
    const m = await startMonitor(config);
    const texts = () => slack.accepted().map((r) => r.payload.text).filter((t) => /service_down \(service=slack-notifier\)|quality_error/.test(String(t)));
    try {
      // Started with no live member: fired at the first evaluation.
      expect(texts()).toEqual([`:red_circle: FIRING [critical] service_down (service=slack-notifier): slack-notifier is down: group ${GROUPS.slack} has no live member (Empty)`]);
      await m.monitor.refresh();
      expect(texts()).toHaveLength(1);

      const consumer = await joinGroup(GROUPS.slack, ACTIVITIES);
      try {
        // The webhook fails (3 attempts): the notification stays queued and goes out next time.
        slack.script.push({ status: 500, body: 'oops' }, { status: 503, body: 'busy' }, { status: 500, body: 'oops' });
        await m.monitor.refresh();
        expect(texts()).toHaveLength(1);
        expect(m.monitor.alertsView().undelivered).toBe(1);
        await m.monitor.refresh();
        expect(texts()).toEqual([expect.stringMatching(/^:red_circle: FIRING/), expect.stringMatching(/^:white_check_mark: RESOLVED service_down \(service=slack-notifier\) after \d+ s: was "slack-notifier is down/)]);
        expect(m.monitor.alertsView().undelivered).toBe(0);
      } finally {
        await consumer.disconnect();
      }

      // A refresh whose quality suite fails with an error (a manifest announcing more rows than its file).
      const { activity } = await import('../batch/testing/batch-kit.ts');
      sb.fixture.insert('activities', activity(1001, '2026-06-20T07:00:00Z', 5));
      const [key] = await sb.fixture.flush();
      const written = sb.fixture.written.find((f) => f.key === key)!;
      const manifest = JSON.parse((await sb.lake.get(written.manifestKey)).toString());
      await sb.lake.put(written.manifestKey, Buffer.from(JSON.stringify({ ...manifest, rows: manifest.rows + 5 })));
      const failed = await sb.refresh();
      expect(failed.status).toBe('failed_quality');
      await m.monitor.refresh();
      await m.monitor.refresh();
      const quality = texts().filter((t) => String(t).includes('quality_error'));
      expect(quality).toEqual([
        `:red_circle: FIRING [critical] quality_error: quality error, gold not refreshed: refresh ${failed.runId} ended failed_quality: error-level quality checks failed: bronze.files.rows_match_manifest`,
      ]);
      // Repaired: the next refresh succeeds (and swaps gold while the monitor holds it open), the incident resolves.
      const opensBefore = m.monitor.gold.opens;
      expect(opensBefore).toBeGreaterThanOrEqual(1);
      await sb.lake.put(written.manifestKey, Buffer.from(JSON.stringify(manifest)));
      const repaired = await sb.refresh();
      expect(repaired.status).toBe('success');
      await m.monitor.refresh();
      // The monitor reopened the new gold file once and reads the new build.
      expect(m.monitor.gold.opens).toBe(opensBefore + 1);
      expect((await m.json<{ run: { runId: string } }>('/api/quality')).body.run.runId).toBe(repaired.runId);
      expect((await m.monitor.gold.query<{ run_id: string }>('SELECT run_id FROM build_info'))[0]?.run_id).toBe(repaired.runId);
      expect(texts().filter((t) => String(t).includes('quality_error'))).toEqual([quality[0], expect.stringMatching(/^:white_check_mark: RESOLVED quality_error after \d+ (s|min): was "quality error/)]);
      expect(slack.violations).toEqual([]);
    } finally {
      await m.stop();
      await slack.close();
    }
  });
});

describe('run_log reading', () => {
  it('reads complete lines from an offset and leaves a line still being written for later', async () => {
    const file = path.join(dir, 'run_log.jsonl');
    const line = (runId: string, status: RunStatus = 'success') => encodeRunLogLine(runLogEntryFixture({ runId, status })).trimEnd();
    expect(await readRunLog(file)).toEqual({ runs: [], problems: [], nextOffset: 0 });
    const first = `${line('r1')}\n`;
    const partial = line('r2', 'failed_quality');
    await writeFile(file, first + partial.slice(0, 40));
    const a = await readRunLog(file);
    expect(a.runs.map((r) => r.runId)).toEqual(['r1']);
    expect(a.nextOffset).toBe(Buffer.byteLength(first));
    await appendFile(file, `${partial.slice(40)}\n`);
    const b = await readRunLog(file, a.nextOffset);
    expect(b.runs.map((r) => [r.runId, r.status])).toEqual([['r2', 'failed_quality']]);
    // A shorter file (rewritten) is read again from the start; multi-byte characters count in bytes.
    await writeFile(file, `${line('r9-é')}\n`);
    const c = await readRunLog(file, b.nextOffset);
    expect(c.runs.map((r) => r.runId)).toEqual(['r9-é']);
    expect(c.nextOffset).toBe(Buffer.byteLength(`${line('r9-é')}\n`));
  });
});
