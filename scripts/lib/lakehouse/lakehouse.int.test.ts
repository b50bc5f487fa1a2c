/**
 * The ops CLI against the real test stack, run as an operator runs it: the `lakehouse` bin from
 * another directory, or `script` for a terminal when a command asks for confirmation. Each test
 * uses its own slot and publication names, so it shares nothing with the other tests.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT } from '../../../services/common/config.ts';
import { testPortBase } from '../../../tests/support/test-env.ts';

const config = loadConfig();
const run = Date.now().toString(36);
const BIN = path.join(REPO_ROOT, 'bin/lakehouse.js');
let admin: pg.Client;

interface Result {
  code: number | null;
  /** stdout and stderr as they came. */
  out: string;
  stdout: string;
}

/**
 * Runs `lakehouse <args>` (the bin, cwd = the temp directory) with the test stack's environment
 * plus `env`. With `answer`, it runs under `script` (a pseudo-terminal) and types the answer.
 */
function lakehouse(args: string[], env: Record<string, string> = {}, answer?: string): Promise<Result> {
  const quoted = [BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const [cmd, argv] = answer === undefined ? [BIN, args] : ['script', ['-qec', quoted, '/dev/null']];
  const child = spawn(cmd, argv, { cwd: os.tmpdir(), env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  if (answer !== undefined) child.stdin.write(`${answer}\n`);
  child.stdin.end();
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, stdout })));
}

const slotExists = async (name: string) => (await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [name])).rowCount === 1;

beforeAll(async () => {
  admin = new pg.Client(pgConnection(config, 'admin'));
  await admin.connect();
});

afterAll(async () => {
  await admin.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active", [`ops_${run}%`]);
  await admin.query(`DROP PUBLICATION IF EXISTS ${admin.escapeIdentifier(`ops_pub_${run}`)}`);
  await admin.end();
});

describe('lakehouse (bin) on the test stack', () => {
  it('status --json reads every part from any directory; an unreachable Kafka is reported and exits 1', async () => {
    const ok = await lakehouse(['status', '--json'], { CDC_SLOT_NAME: `ops_${run}_status` });
    expect(ok.code, ok.out).toBe(0);
    const status = JSON.parse(ok.stdout) as { kafka: { error: string | null }; replicationSlot: { slotName: string; exists: boolean } };
    expect(status.kafka.error).toBeNull();
    expect(status.replicationSlot).toMatchObject({ slotName: `ops_${run}_status`, exists: false });

    const closedPort = testPortBase() + 99;
    const down = await lakehouse(['status'], { KAFKA_BROKERS: `127.0.0.1:${closedPort}` });
    expect(down.code, down.out).toBe(1);
    expect(down.out).toContain(`Kafka unreachable: Listing topics failed: connect ECONNREFUSED 127.0.0.1:${closedPort}`);
    expect(down.out).toContain('Replication slot');
  });

  it('reset-slot asks first, refuses while the slot is streamed, drops slot and marker, and is idempotent', async () => {
    const slot = `ops_${run}_slot`;
    const env = { CDC_SLOT_NAME: slot };
    await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    await admin.query('SELECT pg_create_physical_replication_slot($1, false)', [`${slot}_snapshot_pending`]);

    // A walsender streaming from the slot, as the running CDC service holds it.
    const walsender = new pg.Client({ ...pgConnection(config, 'cdc'), replication: 'database' } as pg.ClientConfig);
    await walsender.connect();
    walsender.query(`START_REPLICATION SLOT "${slot}" LOGICAL 0/0 (proto_version '1', publication_names '"${config.postgres.publication}"')`).catch(() => undefined);
    for (let i = 0; i < 100 && !(await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).rowCount; i++) await new Promise((r) => setTimeout(r, 50));
    const held = await lakehouse(['reset-slot', '--yes'], env);
    expect(held.code, held.out).toBe(1);
    expect(held.out).toMatch(new RegExp(`lakehouse reset-slot: CdcRunning: slot ${slot} is held by a running CDC process \\(walsender pid \\d+\\): stop the CDC service first`));
    const status = await lakehouse(['cdc', 'status'], env);
    expect(status.code, status.out).toBe(0);
    expect(status.out).toMatch(new RegExp(`^slot ${slot}: active \\(walsender pid \\d+\\), confirmed [0-9A-F]+/[0-9A-F]+, lag `, 'm'));
    expect(status.out).toContain(`slot ${slot}_snapshot_pending: INACTIVE`);
    expect(status.out).toContain(`publication ${config.postgres.publication}: public.activities, public.commute_distances, public.declared_sports, public.employees`);
    await walsender.end().catch(() => undefined);
    for (let i = 0; i < 100 && (await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).rowCount; i++) await new Promise((r) => setTimeout(r, 50));

    const noTerminal = await lakehouse(['reset-slot'], env);
    expect(noTerminal.code, noTerminal.out).toBe(2);
    expect(noTerminal.out).toContain('lakehouse reset-slot: no terminal to confirm on: pass --yes to do it without asking');
    const declined = await lakehouse(['reset-slot'], env, 'n');
    expect(declined.code, declined.out).toBe(1);
    expect(declined.out).toContain(`Drop replication slot ${slot}? [y/N]`);
    expect(declined.out).toContain('not confirmed: nothing changed');
    expect(await slotExists(slot)).toBe(true);

    const confirmed = await lakehouse(['reset-slot'], env, 'y');
    expect(confirmed.code, confirmed.out).toBe(0);
    expect(confirmed.out).toContain(`dropped slot ${slot}\r\ndropped slot ${slot}_snapshot_pending`);
    expect(await slotExists(slot)).toBe(false);
    expect(await slotExists(`${slot}_snapshot_pending`)).toBe(false);

    const again = await lakehouse(['cdc', 'drop-slot', '--yes'], env);
    expect(again).toMatchObject({ code: 0, stdout: `slot ${slot} does not exist (CDC_SLOT_NAME): nothing to reset\n` });
  });

  it('cdc drop-publication drops it as its owner after --yes, and is idempotent', async () => {
    const pub = `ops_pub_${run}`;
    await admin.query(`CREATE PUBLICATION ${admin.escapeIdentifier(pub)} FOR TABLE public.activities`);
    const env = { CDC_PUBLICATION: pub, CDC_SLOT_NAME: `ops_${run}_pub` };
    const status = await lakehouse(['cdc', 'status'], env);
    expect(status.out).toContain(`publication ${pub}: public.activities\n`);
    const dropped = await lakehouse(['cdc', 'drop-publication', '--yes'], env);
    expect(dropped.code, dropped.out).toBe(0);
    expect(dropped.out).toContain(`dropped publication ${pub}`);
    expect((await admin.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [pub])).rowCount).toBe(0);
    expect(await lakehouse(['cdc', 'drop-publication', '--yes'], env)).toMatchObject({ code: 0, stdout: `publication ${pub} does not exist (CDC_PUBLICATION): nothing to drop\n` });
    expect((await lakehouse(['cdc', 'status'], env)).out).toContain(`publication ${pub}: absent`);
  });

  it('refresh and backfill pass the batch job\'s exit code through (2: bad rules file, nothing touched)', async () => {
    const res = await lakehouse(['backfill', '--rules', path.join(os.tmpdir(), `no-rules-${run}.json`)], { BATCH_STATE_DIR: path.join(os.tmpdir(), `ops-batch-${run}`) });
    expect(res.code, res.out).toBe(2);
    expect(res.out).toContain(`no-rules-${run}.json`);
  });
});
