/**
 * Test support for the CDC integration tests: configuration for the test stack with per-test
 * slot/prefix overrides, the service run in-process or as a child process, and SQL helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, pgConnection, REPO_ROOT, type Config } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { parseLsn } from '../lsn.ts';
import { CdcService } from '../service.ts';

/** A short unique suffix so repeated runs against a kept test stack never share topics or slots. */
export function runId(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** Environment of the test stack (process.env, set by vitest) plus overrides. */
export function cdcEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, CDC_METRICS_PORT: '0', CDC_HEARTBEAT_INTERVAL_S: '1', ...overrides };
}

export interface InProcessCdc {
  service: CdcService;
  config: Config;
  /** Settles when the service stops. */
  done: Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<InProcessCdc>();

/** Starts the service in this process and waits until it streams. */
export async function startCdc(overrides: Record<string, string>): Promise<InProcessCdc> {
  const config = loadConfig(cdcEnv(overrides));
  const service = new CdcService(config, createLogger('cdc-test', process.env.LOG_LEVEL ?? 'warn'));
  const done = service.run();
  const handle: InProcessCdc = {
    service,
    config,
    done,
    stop: async () => {
      service.stop();
      await done;
      running.delete(handle);
    },
  };
  running.add(handle);
  await Promise.race([service.streaming, done.then(() => { throw new Error('cdc stopped before streaming'); })]);
  return handle;
}

/** Stops every in-process service a test left running (e.g. after a failed assertion). */
export async function stopAllCdc(): Promise<void> {
  await Promise.all([...running].map((h) => h.stop().catch(() => undefined)));
}

/** The service as a child process (`node --import tsx services/cdc/main.ts`), so it can be SIGKILLed. */
export class CdcChild {
  readonly child: ChildProcess;
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private streamingResolve!: () => void;
  readonly streaming = new Promise<void>((resolve) => (this.streamingResolve = resolve));

  constructor(overrides: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/cdc/main.ts')], {
      cwd: REPO_ROOT,
      env: cdcEnv({ LOG_LEVEL: 'info', ...overrides }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      this.output.push(text);
      if (text.includes('"streaming changes"')) this.streamingResolve();
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Waits until the child streams; rejects if it exits first or after `timeoutMs`. */
  async waitStreaming(timeoutMs = 60_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.streaming,
        this.exited.then((e) => { throw new Error(`cdc child exited (${e.code ?? e.signal}) before streaming:\n${this.output.join('')}`); }),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`cdc child not streaming after ${timeoutMs} ms:\n${this.output.join('')}`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

export async function adminClient(config: Config): Promise<pg.Client> {
  const client = new pg.Client(pgConnection(config, 'admin'));
  await client.connect();
  return client;
}

/** The slot's confirmed_flush_lsn, or null when the slot does not exist. */
export async function confirmedFlushLsn(db: pg.Client, slot: string): Promise<bigint | null> {
  const res = await db.query<{ lsn: string | null }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  const lsn = res.rows[0]?.lsn;
  return lsn ? parseLsn(lsn) : null;
}

export async function currentWalLsn(db: pg.Client): Promise<bigint> {
  const res = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return parseLsn(res.rows[0]!.lsn);
}

/** Drops test slots (and their snapshot markers), waiting for a dying walsender to let go. */
export async function dropSlots(db: pg.Client, slots: string[]): Promise<void> {
  for (const slot of slots.flatMap((s) => [s, `${s}_snapshot_pending`])) {
    for (let i = 0; i < 40; i++) {
      const res = await db.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      if (!res.rows[0]) break;
      if (!res.rows[0].active) {
        await db.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Polls `fn` until it returns a truthy value. @throws after `timeoutMs` with `what`. */
export async function eventually<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A parsed change event value (tombstones are null). */
export interface Envelope {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: Record<string, unknown> & { lsn: number; txId: number; ts_ms: number; snapshot: string; table: string };
  op: string;
  ts_ms: number;
}

export function envelope(value: string | null): Envelope | null {
  return value === null ? null : (JSON.parse(value) as Envelope);
}
