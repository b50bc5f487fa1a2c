/**
 * The service runtime and per-service configuration, through the real entry points as child
 * processes (docs/architecture.md, "Exit codes" and "Configuration"): every entry point exits 2
 * on a bad setting of its own, naming it, before any connection opens; a bad setting of another
 * service does not stop it (the CDC service streams with DISTANCE_PROVIDER=routes and no key).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT } from '../../services/common/config.ts';
import { grantKafkaAccess } from '../support/kafka.ts';

/** An entry point running as a child process: its combined stdout and stderr, and its exit code. */
interface EntryPointRun {
  child: ChildProcess;
  output: string;
  exited: Promise<number | null>;
}

/** Starts `script` as `node --import tsx <script>` with LOG_LEVEL=info and `env` over this process's. */
function startEntryPoint(script: string, env: NodeJS.ProcessEnv): EntryPointRun {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: EntryPointRun = { child, output: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout!.on('data', (d: Buffer) => (run.output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (run.output += d.toString()));
  return run;
}

/** Polls until `done()` holds, the child exits or `timeoutMs` pass (the caller asserts which). */
async function waitUntil(run: EntryPointRun, done: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && run.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
}

const ENTRY_POINTS = [
  { script: 'services/cdc/main.ts', name: 'cdc', bad: { CDC_SLOT_NAME: 'Bad-Slot' }, says: 'CDC_SLOT_NAME: expected 1-46 lower-case letters' },
  { script: 'services/bronze-writer/main.ts', name: 'bronze-writer', bad: { BRONZE_MAX_ROWS: 'many' }, says: 'BRONZE_MAX_ROWS: Invalid input: expected number' },
  { script: 'services/slack-notifier/main.ts', name: 'slack-notifier', bad: { SLACK_RATE_PER_SECOND: 'fast' }, says: 'SLACK_RATE_PER_SECOND: Invalid input: expected number' },
  { script: 'services/distance-worker/main.ts', name: 'distance-worker', bad: { DISTANCE_PROVIDER: 'routes', GOOGLE_MAPS_API_KEY: '' }, says: 'GOOGLE_MAPS_API_KEY: required when DISTANCE_PROVIDER=routes' },
  { script: 'services/monitor/main.ts', name: 'monitor', bad: { MONITOR_PORT: 'http' }, says: 'MONITOR_PORT: Invalid input: expected number' },
  { script: 'services/batch/cli.ts', name: 'batch', bad: { BATCH_THREADS: 'zero' }, says: 'BATCH_THREADS: Invalid input: expected number' },
];

describe('every entry point', () => {
  it.each(ENTRY_POINTS)('$name exits 2 on a bad setting of its own, naming it, before any connection', ({ script, name, bad, says }) => {
    // Unreachable database and broker: a connection attempt would fail differently (and later).
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script)], {
      cwd: REPO_ROOT,
      env: { ...process.env, POSTGRES_PORT: '1', KAFKA_BROKERS: '127.0.0.1:1', ...bad },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toContain(`${name}: Invalid configuration:`);
    expect(result.stderr).toContain(says);
    expect(result.stderr + result.stdout).not.toMatch(/ECONNREFUSED/);
  });
});

describe('a rules file naming a commute mode HR does not record (issue 14: a typo swapped gold)', () => {
  it.each([
    { script: 'services/slack-notifier/main.ts', name: 'slack-notifier' },
    { script: 'services/batch/cli.ts', name: 'batch' },
  ])('$name exits 2 naming the key and the closest mode, before any connection', ({ script }) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rules-typo-'));
    const rules = JSON.parse(readFileSync(path.join(REPO_ROOT, 'products/sport-rewards/rules.json'), 'utf8'));
    rules.sportBonus.maxCommuteKmByMode = { 'Marche/running': 15, 'Vélo/Trottinette/Autre': 25 };
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify(rules));
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script)], {
      cwd: REPO_ROOT,
      env: { ...process.env, POSTGRES_PORT: '1', KAFKA_BROKERS: '127.0.0.1:1', BATCH_RULES_FILE: path.join(dir, 'rules.json'), BATCH_STATE_DIR: path.join(dir, 'state'), BATCH_GOLD_DB: path.join(dir, 'gold.duckdb') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    rmSync(dir, { recursive: true, force: true });
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toContain('sportBonus.maxCommuteKmByMode.Vélo/Trottinette/Autre: unknown commute mode "Vélo/Trottinette/Autre"');
    expect(result.stderr).toContain('did you mean "Vélo/Trottinette/Autres"?');
    expect(result.stderr + result.stdout).not.toMatch(/ECONNREFUSED|\n\s+at /);
  });
});

describe('a bad setting of one service', () => {
  const slot = 'runtime_test_slot';
  const config = loadConfig();

  afterAll(async () => {
    const db = new pg.Client(pgConnection(config, 'admin'));
    await db.connect();
    await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
    await db.end();
  });

  it('does not stop the CDC service: it streams with DISTANCE_PROVIDER=routes and no key, then stops on SIGTERM (exit 0)', async () => {
    await grantKafkaAccess({ CDC_SLOT_NAME: slot, CDC_TABLES: 'public.employees', KAFKA_TOPIC_PREFIX: 'runtime_test' });
    const run = startEntryPoint('services/cdc/main.ts', {
      DISTANCE_PROVIDER: 'routes',
      GOOGLE_MAPS_API_KEY: '',
      SLACK_RATE_PER_SECOND: 'fast',
      CDC_SLOT_NAME: slot,
      CDC_TABLES: 'public.employees',
      CDC_SNAPSHOT_MODE: 'never',
      CDC_METRICS_PORT: '0',
      KAFKA_TOPIC_PREFIX: 'runtime_test',
    });
    await waitUntil(run, () => run.output.includes('"msg":"streaming changes"'));
    expect(run.output, 'streaming within 60 s').toContain('"msg":"streaming changes"');
    expect(run.output).toContain('"msg":"started"');
    run.child.kill('SIGTERM');
    expect(await run.exited, run.output).toBe(0);
    expect(run.output).toContain('"msg":"stopping"');
    expect(run.output).toContain('"exitCode":0');
  });
});

describe('the consumers\' health endpoint (issue 14)', () => {
  it('answers 503 "starting" while the bronze writer cannot reach the broker, then closes on SIGTERM (exit 0)', async () => {
    const port = loadConfig().bronze.healthPort;
    const run = startEntryPoint('services/bronze-writer/main.ts', { KAFKA_BROKERS: '127.0.0.1:1' });
    const deadline = Date.now() + 60_000;
    let answer: { status: number; body: unknown } | null = null;
    while (answer === null && Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        answer = { status: res.status, body: await res.json() };
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    expect(answer, run.output).toEqual({ status: 503, body: { status: 'unhealthy', service: 'bronze-writer', state: 'starting', detail: 'starting' } });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('service_healthy{service="bronze-writer"} 0');
    expect(metrics).toContain('service_state{service="bronze-writer",state="starting"} 1');
    expect(run.output).toContain(`"url":"http://127.0.0.1:${port}","msg":"health endpoint (/healthz, /metrics) listening"`);
    run.child.kill('SIGTERM');
    expect(await run.exited, run.output).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});

describe('a stop while the broker is unreachable at start-up (issue 14)', () => {
  it.each([
    { name: 'slack-notifier', script: 'services/slack-notifier/main.ts' },
    { name: 'distance-worker', script: 'services/distance-worker/main.ts' },
  ])('$name waits for the broker, then exits 0 on SIGTERM without it', async ({ script }) => {
    const run = startEntryPoint(script, { KAFKA_BROKERS: '127.0.0.1:1' });
    await waitUntil(run, () => run.output.includes('retrying with backoff until the broker answers'));
    expect(run.child.exitCode, run.output).toBeNull();
    expect(run.output).toContain('retrying with backoff until the broker answers');
    run.child.kill('SIGTERM');
    const code = await Promise.race([run.exited, new Promise<string>((r) => setTimeout(() => r('still running 20 s after SIGTERM'), 20_000))]);
    run.child.kill('SIGKILL');
    expect(code, run.output).toBe(0);
  }, 120_000);
});

describe('a health or metrics port held by another socket (issue 14: the CDC service restarted 18 times on EADDRINUSE in CI)', () => {
  const slot = 'runtime_port_slot';

  afterAll(async () => {
    const db = new pg.Client(pgConnection(loadConfig(), 'admin'));
    await db.connect();
    await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
    await db.end();
  });

  it.each([
    {
      name: 'cdc',
      script: 'services/cdc/main.ts',
      portVariable: 'CDC_METRICS_PORT',
      env: { CDC_SLOT_NAME: slot, CDC_TABLES: 'public.employees', CDC_SNAPSHOT_MODE: 'never', KAFKA_TOPIC_PREFIX: 'runtime_port' },
      ready: '"msg":"streaming changes"',
      what: 'metrics (/metrics) and health (/healthz)',
    },
    { name: 'bronze-writer', script: 'services/bronze-writer/main.ts', portVariable: 'BRONZE_HEALTH_PORT', env: { KAFKA_BROKERS: '127.0.0.1:1' }, ready: '"msg":"starting"', what: 'health endpoint (/healthz, /metrics)' },
  ])('$name runs on while its port is taken, says so once, and serves /healthz once the port is free', async ({ script, portVariable, env, ready, what }) => {
    if (script.includes('cdc')) await grantKafkaAccess(env);
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    const run = startEntryPoint(script, { ...env, [portVariable]: String(port) });
    const notServed = `"msg":"${what} not served for now: cannot listen on this address; the service runs on and tries again with backoff (a busy port is freed, or set another one)"`;
    try {
      await waitUntil(run, () => run.output.includes(ready) && run.output.includes(notServed));
      expect(run.child.exitCode, run.output).toBeNull();
      expect(run.output).toContain(ready);
      expect(run.output).toContain(`"port":${port},"reason":"listen EADDRINUSE: address already in use 127.0.0.1:${port}"`);
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      let status: number | null = null;
      const until = Date.now() + 90_000;
      while (status === null && Date.now() < until) {
        try {
          status = (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
        } catch {
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      expect(status, run.output).not.toBeNull();
      expect(run.output).toContain(`"url":"http://127.0.0.1:${port}","msg":"${what} listening (bound on a later attempt)"`);
      expect(run.output.split(notServed).length - 1).toBe(1);
      run.child.kill('SIGTERM');
      expect(await run.exited, run.output).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
      holder.close();
    }
  }, 180_000);
});
