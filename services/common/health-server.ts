/**
 * The health endpoint every long-running consumer serves under the service runtime (runtime.ts;
 * issue 14): `GET /healthz` and `GET /metrics` on `<SERVICE>_HEALTH_HOST:<SERVICE>_HEALTH_PORT`
 * (127.0.0.1 by default). The CDC service serves its own, richer pair (services/cdc/metrics.ts).
 *
 * - `/healthz`: JSON `{ status: "ok" | "unhealthy", service, state, detail }`, 200 when the
 *   runtime state is `running` and the service says it is healthy (no retried operation failing:
 *   broker, lake, Slack, Maps or PostgreSQL reachable), 503 otherwise (`starting`, `stopping`, or
 *   an outage being ridden out, named in `detail`).
 * - `/metrics`: Prometheus text: `service_healthy{service}` (1/0, as /healthz), `service_state{service,state}`
 *   (1 for the current runtime state), and the default process metrics of prom-client (RSS, CPU,
 *   event-loop lag).
 *
 * A port that cannot be bound (in use, an address not of this host) does not stop the service:
 * the runtime logs one warning naming the address and tries again with backoff until it binds
 * ({@link listenWithRetry}); the monitor still watches the service through its consumer group.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pRetry from 'p-retry';
import client from 'prom-client';
import type { Logger } from './logger.ts';

/** Runtime states (runtime.ts). */
export const RUNTIME_STATES = ['starting', 'running', 'stopping', 'stopped'] as const;
export type RuntimeState = (typeof RUNTIME_STATES)[number];

/** What the service says of itself (RunningService.health); absent before it started. */
export type ServiceHealth = { healthy: boolean; detail: string } | null;

/** The `/healthz` answer for a runtime state and the service's own report (pure). */
export function healthAnswer(service: string, state: RuntimeState, own: ServiceHealth): { code: 200 | 503; body: { status: 'ok' | 'unhealthy'; service: string; state: RuntimeState; detail: string } } {
  const healthy = state === 'running' && (own?.healthy ?? true);
  const detail = state !== 'running' ? state : (own?.detail ?? 'running');
  return { code: healthy ? 200 : 503, body: { status: healthy ? 'ok' : 'unhealthy', service, state, detail } };
}

/** A listening HTTP server: a health endpoint, or any server bound by {@link listenHttp}. */
export interface HealthServer {
  /** The port bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * Serves /healthz and /metrics for `service`, asking `probe` at each request.
 * @throws the listen error (port in use, address not local).
 */
export async function startHealthServer(service: string, host: string, port: number, probe: () => { state: RuntimeState; own: ServiceHealth }): Promise<HealthServer> {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  new client.Gauge({
    name: 'service_healthy',
    help: '1 while the service runs and reports itself healthy (as /healthz), 0 otherwise',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      const { state, own } = probe();
      this.set({ service }, healthAnswer(service, state, own).code === 200 ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'service_state',
    help: '1 for the current runtime state (starting, running, stopping, stopped)',
    labelNames: ['service', 'state'],
    registers: [registry],
    collect() {
      const { state } = probe();
      for (const s of RUNTIME_STATES) this.set({ service, state: s }, s === state ? 1 : 0);
    },
  });
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://health').pathname;
    if (path === '/healthz') {
      const { state, own } = probe();
      const answer = healthAnswer(service, state, own);
      res.writeHead(answer.code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(answer.body));
    } else if (path === '/metrics') {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch((err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        });
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: /healthz and /metrics only\n');
    }
  });
  return listenHttp(server, host, port);
}

/**
 * Binds `server` to `host:port` (0 = any free port) and returns the bound port and a close that
 * also ends kept-alive connections. After the bind, a socket error never becomes an unhandled
 * 'error' event (issue 14): it goes to `onError` (ignored by default), and client errors destroy
 * their socket.
 * @throws the listen error (port in use, address not local).
 */
export async function listenHttp(server: http.Server, host: string, port: number, onError: (err: Error) => void = () => undefined): Promise<HealthServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', onError);
  server.on('clientError', (_err, socket) => socket.destroy());
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A listener that may not be bound yet: see {@link listenWithRetry}. */
export interface RetriedListener {
  /** The port bound, or null while the address cannot be bound. */
  readonly port: number | null;
  /** Stops trying and closes the server if it was bound. */
  close(): Promise<void>;
}

/** First wait and cap of the attempts to bind again (ms). */
export const LISTEN_RETRY_MS = { first: 2_000, max: 60_000 } as const;

/**
 * Binds with `bind` now if it can; otherwise the service runs on without it (issue 14: a
 * health or metrics port is not worth a crash loop; a port of Linux's ephemeral range, 32768-60999,
 * may be held for a while by some client socket): one warning naming `what`, the address and the
 * cause, then a new attempt with backoff (2 s doubling to 60 s) until it binds (one info line)
 * or {@link RetriedListener.close} is called. Resolves after the first attempt; never rejects.
 */
export async function listenWithRetry(what: string, at: { host: string; port: number }, bind: () => Promise<HealthServer>, logger: Logger): Promise<RetriedListener> {
  let bound: HealthServer | null = null;
  const stop = new AbortController();
  const state: RetriedListener = {
    get port() {
      return bound?.port ?? null;
    },
    async close() {
      stop.abort();
      await bound?.close();
      bound = null;
    },
  };
  try {
    bound = await bind();
    logger.info({ url: `http://${at.host}:${bound.port}` }, `${what} listening`);
    return state;
  } catch (err) {
    logger.warn({ host: at.host, port: at.port, reason: (err as Error).message }, `${what} not served for now: cannot listen on this address; the service runs on and tries again with backoff (a busy port is freed, or set another one)`);
  }
  void pRetry(
    async () => {
      if (stop.signal.aborted) return;
      const server = await bind();
      if (stop.signal.aborted) await server.close();
      else {
        bound = server;
        logger.info({ url: `http://${at.host}:${server.port}` }, `${what} listening (bound on a later attempt)`);
      }
    },
    { retries: Number.POSITIVE_INFINITY, minTimeout: LISTEN_RETRY_MS.first, maxTimeout: LISTEN_RETRY_MS.max, factor: 2, signal: stop.signal, shouldRetry: () => !stop.signal.aborted },
  ).catch(() => undefined);
  return state;
}
