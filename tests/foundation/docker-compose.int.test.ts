/**
 * docker-compose.yml, checked without a Docker engine: infra/compose-check loads it with the
 * Compose specification's own loader (compose-go, the library `docker compose` is built on; built
 * by scripts/install-services), which validates it against the specification's schema and
 * interpolates `${VAR:-default}` from the environment. Then every service built from this
 * repository's image may only set variables that the configuration of its entry point reads, so
 * a renamed or mistyped variable fails here instead of being silently ignored in a container.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allVariables, loadConfig, REPO_ROOT, serviceVariables, type ServiceName } from '../../services/common/config.ts';

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');

/** The compose-check binary: COMPOSE_CHECK_BIN, else where scripts/install-services recorded it. */
function composeCheckBin(): string {
  const recorded = path.join(loadConfig().stack.cacheDir, 'services.env');
  const fromFile = existsSync(recorded) ? /^COMPOSE_CHECK_BIN=(.+)$/m.exec(readFileSync(recorded, 'utf8'))?.[1] : undefined;
  const bin = process.env.COMPOSE_CHECK_BIN ?? fromFile;
  if (!bin || !existsSync(bin)) throw new Error(`compose-check is not built (${bin ?? `no COMPOSE_CHECK_BIN in ${recorded}`}): run \`bash scripts/install-services\``);
  return bin;
}

interface ComposeService {
  image?: string;
  build?: { context: string };
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment?: Record<string, string | null>;
  profiles?: string[];
  ports?: { host_ip?: string; target: number; published?: string }[];
}

/**
 * Loads `file` with compose-check; `env` is the whole environment it sees (no variable of the
 * test run leaks into the interpolation), in `cwd` (default: the file's directory).
 */
function loadCompose(file: string, env: Record<string, string> = {}): { status: number | null; stderr: string; project?: { name: string; services: Record<string, ComposeService> } } {
  const res = spawnSync(composeCheckBin(), [file], { cwd: path.dirname(file), env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env }, encoding: 'utf8' });
  return { status: res.status, stderr: res.stderr, project: res.status === 0 ? JSON.parse(res.stdout) : undefined };
}

/**
 * The configuration each app service's command runs, by compose service. A new service built
 * from the image must be added here (the test says so), so its variables are checked too.
 */
const ENTRY_POINTS: Record<string, { entry: string; config: 'service' | 'scripts' }> = {
  cdc: { entry: 'services/cdc/main.ts', config: 'service' },
  'bronze-writer': { entry: 'services/bronze-writer/main.ts', config: 'service' },
  'slack-notifier': { entry: 'services/slack-notifier/main.ts', config: 'service' },
  'distance-worker': { entry: 'services/distance-worker/main.ts', config: 'service' },
  monitor: { entry: 'services/monitor/main.ts', config: 'service' },
  refresh: { entry: 'services/batch/cli.ts', config: 'service' },
  // npm run db:migrate && npm run db:seed: scripts read the whole configuration.
  'db-init': { entry: 'scripts/db-migrate.ts', config: 'scripts' },
};

/** Variables a service may set although no configuration of ours reads them, each with its reader. */
const NOT_OURS: Record<string, string> = {
  MALLOC_ARENA_MAX: 'read by glibc: two malloc arenas keep the bronze writer\'s RSS down (docs/decisions/0008-bronze-writer-runs-compiled.md)',
};

/**
 * The variables the configuration of `service` reads: its own blocks for a service
 * (services/common/config.ts, SERVICE_BLOCKS), every variable for the scripts.
 */
function variablesReadBy(service: string): Set<string> {
  return new Set(ENTRY_POINTS[service]?.config === 'service' ? serviceVariables(service as ServiceName) : allVariables());
}

describe('docker-compose.yml (compose-go)', () => {
  it('is a valid Compose file whose variables interpolate from the environment', () => {
    const defaults = loadCompose(COMPOSE_FILE);
    expect(defaults.status, defaults.stderr).toBe(0);
    const services = defaults.project!.services;
    expect(defaults.project!.name).toBe('sport-lakehouse');
    expect(Object.keys(services).sort()).toEqual(expect.arrayContaining(['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker', 'monitor', 'refresh', 'db-init', 'postgres', 'redpanda', 'minio']));
    expect(services.cdc!.environment).toMatchObject({ POSTGRES_HOST: 'postgres', POSTGRES_DB: 'sport', KAFKA_BROKERS: 'redpanda:29092' });

    const custom = loadCompose(COMPOSE_FILE, { POSTGRES_DB: 'other_db', KAFKA_TOPIC_PREFIX: 'acme', CDC_METRICS_PORT: '19464' });
    expect(custom.status, custom.stderr).toBe(0);
    expect(custom.project!.services.postgres!.environment!.POSTGRES_DB).toBe('other_db');
    expect(custom.project!.services.cdc!.environment).toMatchObject({ POSTGRES_DB: 'other_db', KAFKA_TOPIC_PREFIX: 'acme' });
  });

  it('refuses what the specification refuses, with the loader\'s message', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-check-'));
    const unknownKey = path.join(dir, 'unknown-key.yml');
    writeFileSync(unknownKey, 'services:\n  app:\n    image: busybox\n    enviroment:\n      A: b\n');
    const bad = loadCompose(unknownKey);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/enviroment/);
    const required = path.join(dir, 'required.yml');
    writeFileSync(required, 'services:\n  app:\n    image: busybox\n    environment:\n      A: ${MUST_BE_SET:?set MUST_BE_SET}\n');
    const unset = loadCompose(required);
    expect(unset.status).toBe(1);
    expect(unset.stderr).toContain('set MUST_BE_SET');
    expect(loadCompose(required, { MUST_BE_SET: 'x' }).status).toBe(0);
  });

  it('publishes every port on 127.0.0.1 only, and every Kafka client of ours authenticates (issue 15)', () => {
    const { project, stderr } = loadCompose(COMPOSE_FILE);
    expect(project, stderr).toBeDefined();
    const published = Object.entries(project!.services).flatMap(([name, service]) => (service.ports ?? []).map((p) => `${name}:${p.target} on ${p.host_ip ?? 'every interface'}`));
    expect(published.length).toBeGreaterThan(0);
    expect(published.filter((p) => !p.endsWith(' on 127.0.0.1'))).toEqual([]);
    for (const name of ['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker', 'monitor', 'db-init']) {
      expect({ name, mechanism: project!.services[name]!.environment?.KAFKA_SASL_MECHANISM }).toEqual({ name, mechanism: 'SCRAM-SHA-256' });
    }
    expect(project!.services.monitor!.environment?.MONITOR_TOKEN).toBeTruthy();
  });

  it('gives each service built from this repository only variables its configuration reads', () => {
    const { project, stderr } = loadCompose(COMPOSE_FILE);
    expect(project, stderr).toBeDefined();
    const problems: string[] = [];
    for (const [name, service] of Object.entries(project!.services)) {
      if (!service.build) continue;
      const entry = ENTRY_POINTS[name];
      if (!entry) {
        problems.push(`${name}: built from this repository but not in ENTRY_POINTS of this test: add its entry point`);
        continue;
      }
      const command = [...(service.entrypoint ?? []), ...(service.command ?? [])].join(' ');
      if (entry.config === 'service' && !command.includes(entry.entry) && !command.includes(`dist/${name}/main.js`)) {
        problems.push(`${name}: runs "${command}", not ${entry.entry}`);
      }
      if (!existsSync(path.join(REPO_ROOT, entry.entry))) problems.push(`${name}: ${entry.entry} does not exist`);
      const known = variablesReadBy(name);
      for (const variable of Object.keys(service.environment ?? {})) {
        if (!known.has(variable) && !(variable in NOT_OURS)) problems.push(`${name}: sets ${variable}, which the configuration of ${entry.entry} does not read`);
      }
    }
    expect(problems).toEqual([]);
  });
});
