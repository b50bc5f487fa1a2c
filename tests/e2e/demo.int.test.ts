/**
 * `npm run demo -- --once` end to end on the test stack: every service runs as in production
 * (child processes), and the summary it prints matches a direct DuckDB query of the gold it built.
 * The demo gets its own database, slot, topic prefix, consumer groups, lake prefix and state
 * directory, so it shares nothing with the other integration tests.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { testAdmin, kafkaTarget } from '../support/kafka.ts';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT } from '../../services/common/config.ts';
import { testPortBase } from '../support/test-env.ts';

const base = loadConfig();
const run = Date.now().toString(36);
const portBase = testPortBase();

describe('npm run demo -- --once', () => {
  let dir: string;
  const env: Record<string, string> = {
    POSTGRES_DB: `demo_${run}`,
    // One CDC role per source database: the stack's pg_hba.conf keeps CDC_DB_USER on POSTGRES_DB.
    CDC_DB_USER: `demo_cdc_${run}`,
    CDC_SLOT_NAME: `demo_${run}`,
    KAFKA_TOPIC_PREFIX: `demo${run}`,
    BRONZE_CONSUMER_GROUP: `demo-${run}-bronze`,
    SLACK_CONSUMER_GROUP: `demo-${run}-slack`,
    DISTANCE_CONSUMER_GROUP: `demo-${run}-distance`,
    LAKE_URL: `s3://${base.s3.bucket}/demo-${run}/`,
    MONITOR_PORT: String(portBase + 410),
    CDC_METRICS_PORT: String(portBase + 464),
    SLACK_WEBHOOK_URL: '',
    GOOGLE_MAPS_API_KEY: '',
    LOG_LEVEL: 'warn',
  };

  afterAll(async () => {
    const admin = new pg.Client(pgConnection(base, 'admin', 'postgres'));
    await admin.connect();
    await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active`, [`demo_${run}%`]);
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(`demo_${run}`)} WITH (FORCE)`);
    await admin.query(`DROP ROLE IF EXISTS ${admin.escapeIdentifier(`demo_cdc_${run}`)}`);
    await admin.end();
    const ka = testAdmin(kafkaTarget(base.kafka.brokers));
    await ka.deleteTopics((await ka.listTopics()).filter((t) => t.startsWith(`demo${run}.`)));
    await ka.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs every service, refreshes gold and prints a summary equal to gold', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'demo-e2e-'));
    Object.assign(env, {
      BATCH_STATE_DIR: path.join(dir, 'batch'),
      BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
      SLACK_DRY_RUN_FILE: path.join(dir, 'slack.jsonl'),
      MONITOR_STATE_FILE: path.join(dir, 'monitor-state.json'),
      ALERT_DRY_RUN_FILE: path.join(dir, 'alerts.jsonl'),
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--once', '--keep-stack', '--history', '120', '--live-count', '5', '--timeout', '180'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, out).toBe(0);

    const gold = await DuckDBInstance.create(env.BATCH_GOLD_DB!, { access_mode: 'READ_ONLY' });
    const conn = await gold.connect();
    const [bonus] = (await conn.runAndReadAll(
      `SELECT count(*) AS employees, count(*) FILTER (WHERE eligible) AS eligible, round(coalesce(sum(bonus_amount_eur), 0)) AS total FROM v_prime_sportive`,
    )).getRowObjectsJson();
    const wellbeing = (await conn.runAndReadAll(
      `SELECT year, count(*) FILTER (WHERE eligible) AS eligible, sum(wellbeing_days) AS days FROM v_wellbeing GROUP BY year ORDER BY year`,
    )).getRowObjectsJson();
    conn.closeSync();
    gold.closeSync();

    const fr = (n: number) => n.toLocaleString('fr-FR', { maximumFractionDigits: 0 });
    expect(out).toContain(`employees                  ${bonus!.employees}`);
    expect(Number(bonus!.employees)).toBe(160);
    expect(out).toContain(`sport bonus                ${bonus!.eligible} eligible employees, ${fr(Number(bonus!.total))} EUR a year`);
    for (const w of wellbeing) {
      expect(out).toContain(`well-being days ${w.year}       ${w.eligible} employees, ${w.days} days`);
    }
    // Five live activities, each announced once; the 120 days of history are not announced.
    expect(out).toContain('Slack messages             5 this run');
    const posts = (await readFile(env.SLACK_DRY_RUN_FILE!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(posts).toHaveLength(5);
    // A name and an activity, no other HR data: no address, town or salary of the employee.
    const db = new pg.Client(pgConnection(loadConfig({ ...process.env, ...env }), 'admin'));
    await db.connect();
    const employees = (await db.query('SELECT employee_id, first_name, last_name, home_address, home_city, gross_annual_salary_eur FROM employees')).rows;
    await db.end();
    for (const post of posts) {
      const e = employees.find((x) => x.employee_id === post.employee_id)!;
      // The quoted comment is the employee's own free text (it may name a town): check the rest.
      const text = JSON.stringify(post).replace(/«[^»]*»/g, '«…»');
      expect(text).toContain(`${e.first_name} ${e.last_name}`);
      expect(text).not.toContain(e.home_address);
      expect(text).not.toContain(e.home_city);
      if (e.gross_annual_salary_eur) expect(text).not.toContain(String(Math.round(Number(e.gross_annual_salary_eur))));
    }
    expect(out).toMatch(/exit codes: .*cdc=0/);
    for (const service of ['bronze-writer', 'slack-notifier', 'distance-worker', 'monitor', 'refresh']) expect(out).toMatch(new RegExp(`${service}=0`));
  });
});
