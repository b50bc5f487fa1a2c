/**
 * Every command the documentation tells a user to type (README.md, docs/**\/*.md,
 * services/*\/README.md; tests/docs/extract.ts) runs as written, or is checked against the
 * explicit exceptions of tests/docs/policy.ts, each with its reason.
 *
 * How: a scratch stack of its own (PostgreSQL, Kafka, MinIO on this test run's port range,
 * database `sport` as the docs say), migrated, seeded, with a month of activities through CDC
 * and the bronze writer ({@link BASELINE}). Each document then gets one bash
 * session on a terminal, and its commands are typed in document order, with the local stack's
 * addresses replaced by the scratch stack's (127.0.0.1:9092 -> the scratch broker, and so on;
 * {@link portRewrites}). A command must exit 0. A long-running service is started, waited for
 * until it has caught up, stopped with SIGTERM and must exit 0. A command already run by an
 * earlier document is not run again, except a service (it moves the pipeline's state) and the
 * steps of guides and runbooks (docs/guides/, docs/runbooks/: walkthroughs, always run whole). Synopses (`<name>`, `[--flag]`, `a|b`) and exempt commands marked helpCheck
 * are checked through `--help`: the script and subcommand exist and every flag is known.
 * Commands that drop the slot or rewind a consumer group, then `npm run stack -- down|reset`,
 * run after every document (tests/docs/policy.ts, `last`). Files the commands create in the repository are
 * removed at the end. DOC_COMMANDS_ONLY=<file>,... runs only those documents.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT } from '../../services/common/config.ts';
import { migrate } from '../../scripts/lib/migrate.ts';
import { generateHrData, seedDatabase } from '../../scripts/lib/seed.ts';
import { stackReset, stackUp } from '../../scripts/lib/stack.ts';
import { testEnv, testPortBase } from '../support/test-env.ts';
import { documentationFiles, extractCommands, isSynopsis, synopsisHelpChecks, type DocCommand, type HelpCheck } from './extract.ts';
import { ruleFor, withoutComment, type Readiness, type Treatment } from './policy.ts';
import { nodeWorkers, ShellSession, shellQuote } from './shell-session.ts';

const testBase = testPortBase();
/** The scratch stack sits 50 ports above the shared test stack, inside this run's range. */
const base = testBase + 50;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'doc-commands-'));

/** The scratch stack's environment: the test layout's ports, the docs' database name, data in a temp dir. */
const scratch: Record<string, string> = {
  ...testEnv(base),
  STACK_DIR: `.local/docs-stack-${testBase}`,
  POSTGRES_DB: 'sport',
  PGPORT: String(base + 432),
  MONITOR_PORT: String(testBase + 420),
  CDC_METRICS_PORT: String(testBase + 470),
  LAKE_URL: 's3://lakehouse/',
  BATCH_STATE_DIR: path.join(dataDir, 'batch'),
  BATCH_GOLD_DB: path.join(dataDir, 'gold.duckdb'),
  SLACK_DRY_RUN_FILE: path.join(dataDir, 'slack-dry-run.jsonl'),
  MONITOR_STATE_FILE: path.join(dataDir, 'monitor-state.json'),
  ALERT_DRY_RUN_FILE: path.join(dataDir, 'alerts.jsonl'),
  // Files are cut after 2 s instead of 60, so "the bronze writer has caught up" comes quickly.
  BRONZE_MAX_AGE_S: '2',
  LOG_LEVEL: 'warn',
};
const env: NodeJS.ProcessEnv = { ...process.env, ...scratch };
const config = loadConfig(env);

/**
 * The local stack's ports (the configuration's defaults) and the other ports the docs use, mapped
 * to the scratch stack's.
 */
function portRewrites(): Map<number, number> {
  const d = loadConfig({});
  return new Map([
    [d.postgres.port, base + 432],
    [Number(d.kafka.brokers[0]!.split(':')[1]), base + 92],
    [d.stack.kafkaControllerPort, base + 93],
    [Number(new URL(d.s3.endpoint).port), base + 900],
    [d.stack.minioConsolePort, base + 901],
    [d.monitor.port, testBase + 420],
    [d.cdc.metricsPort, testBase + 470],
    // A second source's CDC metrics (docs/guides/capture-another-database.md).
    [9465, testBase + 471],
  ]);
}

/** `text` with the local stack's addresses replaced by the scratch stack's (pure but for the table). */
function rewritePorts(text: string, ports = portRewrites()): string {
  let out = text;
  for (const [from, to] of ports) {
    out = out
      .replace(new RegExp(`\\b(127\\.0\\.0\\.1|localhost):${from}\\b`, 'g'), `$1:${to}`)
      .replace(new RegExp(`(\\s(?:-p|--port)[\\s=])${from}\\b`, 'g'), `$1${to}`)
      .replace(new RegExp(`\\b([A-Z][A-Z0-9_]*PORT)=${from}\\b`, 'g'), `$1=${to}`);
  }
  return out;
}

/**
 * The local defaults of the files the services write (data/batch, data/gold.duckdb, ...), as the
 * docs name them relative to the repository, mapped to the scratch run's (pure but for the table).
 */
function rewritePaths(text: string): string {
  const d = loadConfig({});
  const pairs: [string, string][] = [
    [d.batch.stateDir, scratch.BATCH_STATE_DIR!],
    [d.batch.goldDb, scratch.BATCH_GOLD_DB!],
    [d.slack.dryRunFile, scratch.SLACK_DRY_RUN_FILE!],
  ];
  let out = text;
  for (const [from, to] of pairs) out = out.replace(new RegExp(`(^|[\\s'"=])${path.relative(REPO_ROOT, from).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[/\\s'"]|$)`, 'g'), `$1${to}`);
  return out;
}

const where = (c: DocCommand) => `${c.file}:${c.line}`;
const tail = (s: string, lines = 30) => s.trimEnd().split('\n').slice(-lines).join('\n');

/** Runs `command` with bash (no terminal); resolves exit code, stdout and stdout+stderr. */
function runPlain(command: string, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => ((output += d.toString()), (stdout += d.toString())));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, output });
    });
  });
}

/** Whether `ready` holds now on the scratch stack, and what was seen (for a failure message). */
async function isReady(ready: Readiness): Promise<{ ready: boolean; seen: string }> {
  if (ready.kind === 'http') {
    try {
      const res = await fetch(`http://127.0.0.1:${scratch.MONITOR_PORT}/healthz`, { signal: AbortSignal.timeout(2000) });
      return { ready: true, seen: `HTTP ${res.status}` };
    } catch (err) {
      return { ready: false, seen: (err as Error).message };
    }
  }
  const { code, stdout, output } = await runPlain(`node ${shellQuote(path.join(REPO_ROOT, 'bin/lakehouse.js'))} status --json`, 60_000);
  let status: { kafka: { error: string | null; groups: { groupId: string; totalLag: number; partitions: unknown[]; liveness: { live: boolean } | null }[] }; replicationSlot: { active?: boolean } };
  try {
    status = JSON.parse(stdout);
  } catch {
    return { ready: false, seen: `lakehouse status --json exited ${code}: ${tail(output, 5)}` };
  }
  if (ready.kind === 'slot-active') return { ready: status.replicationSlot.active === true, seen: JSON.stringify(status.replicationSlot) };
  const group = status.kafka.groups.find((g) => g.groupId === ready.group);
  const seen = group ? `group ${group.groupId}: live ${group.liveness?.live}, lag ${group.totalLag} on ${group.partitions.length} partition(s)` : `no group ${ready.group} (Kafka: ${status.kafka.error ?? 'ok'})`;
  return { ready: !!group && group.liveness?.live === true && group.partitions.length > 0 && group.totalLag === 0, seen };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts a service command in the session, waits until ready, stops it with SIGTERM; a problem or null. */
async function runService(session: ShellSession, text: string, ready: Readiness): Promise<string | null> {
  const log = path.join(dataDir, `service-${Date.now()}.log`);
  const started = await session.run(`{ ${text}\n} > ${shellQuote(log)} 2>&1 & printf '__JOB_PID__ %d\\n' $!`, 30_000);
  const pid = Number(/__JOB_PID__ (\d+)/.exec(started.output)?.[1]);
  if (!pid) return `could not start: ${started.output}`;
  const logText = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  const deadline = Date.now() + 240_000;
  for (let state = await isReady(ready); !state.ready; state = await isReady(ready)) {
    if (nodeWorkers(pid).length === 0 && !isRunning(pid)) return `exited before it was ready:\n${tail(logText())}`;
    if (Date.now() > deadline) return `not ready after 240 s (${JSON.stringify(ready)}; last seen: ${state.seen}):\n${tail(logText())}`;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const workers = nodeWorkers(pid);
  if (workers.length === 0) return `no Node.js process to stop under job ${pid}`;
  for (const w of workers) process.kill(w.pid, 'SIGTERM');
  const stopped = await session.run(`wait ${pid}`, 120_000);
  if (stopped.code !== 0) return `SIGTERM to ${workers.map((w) => w.cmdline).join(', ')}: exit ${stopped.code ?? 'timeout'}, not 0:\n${tail(logText())}`;
  return null;
}

/** Runs the help checks; a problem per failed check. */
async function runHelpChecks(checks: { at: string; check: HelpCheck }[]): Promise<string[]> {
  const problems: string[] = [];
  const unique = new Map<string, { at: string; flags: Set<string> }>();
  for (const { at, check } of checks) {
    const u = unique.get(check.command) ?? { at, flags: new Set<string>() };
    for (const f of check.flags) u.flags.add(f);
    unique.set(check.command, u);
  }
  const queue = [...unique.entries()];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [command, { at, flags }] = next;
      const { code, output } = await runPlain(command);
      if (code !== 0) problems.push(`${at}: \`${command}\` exits ${code}:\n${tail(output, 10)}`);
      else for (const f of flags) if (!new RegExp(`(^|[\\s,])${f}\\b`, 'm').test(output)) problems.push(`${at}: \`${command}\` does not list ${f}`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return problems;
}

/** DOC_COMMANDS_ONLY=README.md,docs/runbooks/ops.md runs only those documents (while writing them). */
const only = process.env.DOC_COMMANDS_ONLY?.split(',').map((f) => f.trim());
const files = documentationFiles(REPO_ROOT).filter((f) => !only || only.includes(f));
const commands = files.flatMap((f) => extractCommands(f, readFileSync(path.join(REPO_ROOT, f), 'utf8')));
const untrackedBefore = new Set(spawnSync('git', ['ls-files', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.split('\n').filter(Boolean));
const alreadyRun = new Map<string, string>();
const deferred: { command: DocCommand; treatment: Treatment & { how: 'run' } }[] = [];

/**
 * The state every document may assume, a platform that has run: the stack up, migrated and
 * seeded, a month of activities streamed by CDC and written to bronze (so topics, the slot,
 * the bronze writer's offsets and bronze files exist). Commands of the docs, run here as well.
 */
const BASELINE: { text: string; ready?: Readiness }[] = [
  { text: 'npm run simulate -- --history 1mo' },
  { text: 'npm run cdc', ready: { kind: 'slot-active' } },
  { text: 'npm run bronze', ready: { kind: 'group-caught-up', group: 'bronze-writer' } },
];

beforeAll(async () => {
  const say = (l: string) => console.log(`[docs-stack] ${l}`);
  await stackUp(config, say);
  await migrate(config);
  await seedDatabase(config, generateHrData(2024, 160));
  const session = new ShellSession(REPO_ROOT, env);
  try {
    for (const step of BASELINE) {
      const problem = step.ready ? await runService(session, step.text, step.ready) : (await session.run(step.text, 300_000)).code === 0 ? null : 'failed';
      if (problem) throw new Error(`baseline \`${step.text}\`: ${problem}`);
    }
  } finally {
    await session.close();
  }
}, 600_000);

afterAll(async () => {
  await stackReset(config, () => undefined).catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
  const created = spawnSync('git', ['ls-files', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.split('\n').filter((f) => f && !untrackedBefore.has(f));
  for (const f of created) rmSync(path.join(REPO_ROOT, f), { force: true });
}, 120_000);

describe('every documented command', () => {
  it('synopses and exempt commands: their scripts, subcommands and flags exist (--help)', async () => {
    const checks: { at: string; check: HelpCheck }[] = [];
    const problems: string[] = [];
    for (const c of commands) {
      const text = withoutComment(c.text);
      const treatment = ruleFor(text)?.treatment;
      if (treatment?.how === 'exempt') {
        if (treatment.helpCheck) for (const check of synopsisHelpChecks(text)) checks.push({ at: where(c), check });
        if (treatment.paths) {
          for (const p of text.split(/\s+/).filter((w) => w.includes('/') && !w.startsWith('-'))) if (!existsSync(path.join(REPO_ROOT, p))) problems.push(`${where(c)}: ${p} does not exist`);
        }
      } else if (!treatment && isSynopsis(text)) for (const check of synopsisHelpChecks(text)) checks.push({ at: where(c), check });
    }
    problems.push(...(await runHelpChecks(checks)));
    expect(problems).toEqual([]);
  }, 600_000);

  for (const file of files) {
    const own = commands.filter((c) => c.file === file);
    const runnable = own.filter((c) => {
      const t = ruleFor(c.text)?.treatment;
      return t ? t.how !== 'exempt' : !isSynopsis(withoutComment(c.text));
    });
    if (runnable.length === 0) continue;
    it(`${file}: runs as written`, async () => {
      // Guides and runbooks are walkthroughs: each step builds on the one before, so none is
      // skipped for having run in an earlier document.
      const guide = file.startsWith('docs/guides/') || file.startsWith('docs/runbooks/');
      const session = new ShellSession(REPO_ROOT, env);
      const problems: string[] = [];
      try {
        for (const c of runnable) {
          const text = withoutComment(c.text);
          const treatment = (ruleFor(text)?.treatment ?? { how: 'run' }) as Exclude<Treatment, { how: 'exempt' }>;
          if (treatment.how === 'run' && treatment.last) {
            deferred.push({ command: c, treatment });
            continue;
          }
          const typed = rewritePaths(rewritePorts(text));
          // A service run changes state (bronze, offsets): run again wherever a document starts one.
          if (!guide && treatment.how !== 'service' && alreadyRun.has(typed)) continue;
          alreadyRun.set(typed, where(c));
          if (treatment.how === 'service') {
            const problem = await runService(session, typed, treatment.ready);
            if (problem) problems.push(`${where(c)}: \`${text}\`: ${problem}`);
            continue;
          }
          const fill = (snippet: string) => snippet.replaceAll('{rulesFile}', shellQuote(loadConfig({}).batch.rulesFile));
          if (treatment.before) await session.run(fill(treatment.before), 30_000);
          const line = treatment.answer === undefined ? typed : `printf '%s\\n' ${shellQuote(treatment.answer)} | script -qec ${shellQuote(typed)} /dev/null`;
          const res = await session.run(line, (treatment.timeoutS ?? 600) * 1000);
          if (treatment.after) await session.run(fill(treatment.after), 30_000);
          if (res.code !== 0) problems.push(`${where(c)}: \`${text}\` exits ${res.code ?? 'nothing (timed out)'}:\n${tail(res.output)}`);
          if (res.code === null) break;
        }
        // A document that starts something in the background also says how to stop it.
        const left = await session.leftovers();
        if (left.length > 0) problems.push(`${file}: still running after its last command: ${left.join('; ')}`);
      } finally {
        await session.close();
      }
      expect(problems).toEqual([]);
    }, 1_800_000);
  }

  it('commands that drop the slot, rewind a group, stop or delete the stack, after every document', async () => {
    const session = new ShellSession(REPO_ROOT, env);
    const problems: string[] = [];
    try {
      const ran = new Set<string>();
      // The stack's own stop and reset go after the commands that still need it running.
      const stopsStack = (c: DocCommand) => /^npm run stack -- /.test(withoutComment(c.text));
      const ordered = [...deferred.filter((d) => !stopsStack(d.command)), ...deferred.filter((d) => stopsStack(d.command))];
      for (const { command, treatment } of ordered) {
        const typed = rewritePaths(rewritePorts(withoutComment(command.text)));
        if (ran.has(typed)) continue;
        ran.add(typed);
        const line = treatment.answer === undefined ? typed : `printf '%s\\n' ${shellQuote(treatment.answer)} | script -qec ${shellQuote(typed)} /dev/null`;
        const res = await session.run(line, 300_000);
        if (res.code !== 0) problems.push(`${where(command)}: \`${command.text}\` exits ${res.code}:\n${tail(res.output)}`);
      }
    } finally {
      await session.close();
    }
    expect(problems).toEqual([]);
  }, 600_000);
});
