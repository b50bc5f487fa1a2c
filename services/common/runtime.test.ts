import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import net from 'node:net';
import { EXIT, runService, type RunningService, type ServiceDefinition } from './runtime.ts';
import { healthAnswer } from './health-server.ts';

/** A stand-in service: its start, stop and crash are driven by the test. */
function fake(over: Partial<RunningService> = {}, startError?: Error) {
  let crash!: (e: Error) => void;
  const calls: string[] = [];
  const definition: ServiceDefinition<'bronze-writer'> = {
    name: 'fake',
    config: 'bronze-writer',
    async start() {
      calls.push('start');
      if (startError) throw startError;
      return { stop: async () => void calls.push('stop'), crashed: new Promise<Error>((r) => (crash = r)), ...over };
    },
  };
  return { definition, calls, crash: (e: Error) => crash(e) };
}

const env = { LOG_LEVEL: 'silent' };
const exit = () => undefined;
const tick = () => new Promise((r) => setImmediate(r));

type Listener = (...args: unknown[]) => void;
const EVENTS = ['SIGTERM', 'SIGINT', 'uncaughtException', 'unhandledRejection'];
const listeners = (event: string) => (process.listeners as (e: string) => Listener[])(event);

describe('service runtime', () => {
  // The runtime installs process listeners; remove exactly those it added (not the test runner's).
  let before: Map<string, Listener[]>;
  beforeEach(() => {
    before = new Map(EVENTS.map((e) => [e, listeners(e)]));
  });
  afterEach(() => {
    for (const e of EVENTS) for (const l of listeners(e)) if (!before.get(e)!.includes(l)) process.removeListener(e, l);
    vi.restoreAllMocks();
  });

  it('exits 2 on a bad configuration of its own, naming the variable, before starting anything', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    const f = fake();
    expect(await runService(f.definition, { env: { BRONZE_MAX_ROWS: 'many' }, exit })).toBe(EXIT.configuration);
    expect(f.calls).toEqual([]);
    expect(errors.join('\n')).toContain('fake: Invalid configuration:\n  - BRONZE_MAX_ROWS: Invalid input: expected number, received NaN (got "many")');
  });

  it('stops gracefully on the first SIGTERM and exits 0', async () => {
    const f = fake();
    const code = runService(f.definition, { env, exit });
    await tick();
    process.emit('SIGTERM', 'SIGTERM');
    expect(await code).toBe(EXIT.ok);
    expect(f.calls).toEqual(['start', 'stop']);
  });

  it('exits 1 when a graceful stop could not finish its work', async () => {
    const f = fake({ stop: async () => false });
    const code = runService(f.definition, { env, exit });
    await tick();
    process.emit('SIGINT', 'SIGINT');
    expect(await code).toBe(EXIT.runtime);
  });

  it('exits 1 at once on a second signal while the first stop is still running', async () => {
    const exits: number[] = [];
    const f = fake({ stop: () => new Promise(() => undefined) });
    void runService(f.definition, { env, exit: (c) => void exits.push(c) });
    await tick();
    process.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(exits).toEqual([]);
    process.emit('SIGTERM', 'SIGTERM');
    expect(exits).toEqual([EXIT.runtime]);
  });

  it('exits 1 when the service fails by itself (after stopping it) or cannot start', async () => {
    const f = fake();
    const code = runService(f.definition, { env, exit });
    await tick();
    f.crash(new Error('consumer crashed'));
    expect(await code).toBe(EXIT.runtime);
    expect(f.calls).toEqual(['start', 'stop']);
    expect(await runService(fake({}, new Error('broker unreachable')).definition, { env, exit })).toBe(EXIT.runtime);
  });

  it("hands a task's own exit code through, and test hooks to start", async () => {
    let hooks: unknown;
    const task: ServiceDefinition<'bronze-writer', { beforeCommit: () => void }> = {
      name: 'task',
      config: 'bronze-writer',
      async start(context) {
        hooks = context.hooks;
        return { stop: async () => undefined, crashed: new Promise<Error>(() => undefined), finished: Promise.resolve(7) };
      },
    };
    const hook = { beforeCommit: () => undefined };
    expect(await runService(task, { env, exit, hooks: hook })).toBe(7);
    expect(hooks).toBe(hook);
  });

  it('serves /healthz and /metrics from the start: 503 while starting, then what the service says, closed after the stop', async () => {
    const port = await freePort();
    let started!: () => void;
    const startGate = new Promise<void>((r) => (started = r));
    let own = { healthy: true, detail: 'consuming' };
    const definition: ServiceDefinition<'bronze-writer'> = {
      name: 'fake',
      config: 'bronze-writer',
      healthListener: () => ({ host: '127.0.0.1', port }),
      async start() {
        await startGate;
        return { stop: async () => undefined, crashed: new Promise<Error>(() => undefined), health: () => own };
      },
    };
    const code = runService(definition, { env, exit });
    const get = async (path: string) => {
      for (let i = 0; ; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}${path}`);
          return { status: res.status, body: await res.text() };
        } catch (err) {
          if (i > 100) throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    expect(await get('/healthz')).toEqual({ status: 503, body: JSON.stringify({ status: 'unhealthy', service: 'fake', state: 'starting', detail: 'starting' }) });
    expect((await get('/metrics')).body).toContain('service_healthy{service="fake"} 0');
    started();
    await tick();
    await tick();
    expect(await get('/healthz')).toEqual({ status: 200, body: JSON.stringify({ status: 'ok', service: 'fake', state: 'running', detail: 'consuming' }) });
    const metrics = (await get('/metrics')).body;
    expect(metrics).toContain('service_healthy{service="fake"} 1');
    expect(metrics).toContain('service_state{service="fake",state="running"} 1');
    own = { healthy: false, detail: '1 operations failing since 2026-12-05T10:00:00.000Z: store segment: connect ECONNREFUSED' };
    expect(await get('/healthz')).toEqual({ status: 503, body: JSON.stringify({ status: 'unhealthy', service: 'fake', state: 'running', detail: own.detail }) });
    process.emit('SIGTERM', 'SIGTERM');
    expect(await code).toBe(EXIT.ok);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('runs on when its health port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const f = fake();
      const code = runService({ ...f.definition, healthListener: () => ({ host: '127.0.0.1', port }) }, { env, exit });
      await tick();
      await tick();
      expect(f.calls).toEqual(['start']);
      process.emit('SIGTERM', 'SIGTERM');
      expect(await code).toBe(EXIT.ok);
    } finally {
      taken.close();
    }
  });
});

describe('healthAnswer', () => {
  it('is healthy only while running and healthy by its own account', () => {
    expect(healthAnswer('s', 'running', null).code).toBe(200);
    expect(healthAnswer('s', 'running', { healthy: false, detail: 'lake down' })).toEqual({ code: 503, body: { status: 'unhealthy', service: 's', state: 'running', detail: 'lake down' } });
    expect(healthAnswer('s', 'stopping', { healthy: true, detail: 'consuming' })).toEqual({ code: 503, body: { status: 'unhealthy', service: 's', state: 'stopping', detail: 'stopping' } });
  });
});

/** A port free on loopback right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}
