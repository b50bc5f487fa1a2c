/**
 * The one service runtime: every entry point (cdc, bronze-writer, slack-notifier,
 * distance-worker, monitor, the batch refresh) starts, logs, stops and exits the same way.
 *
 * 1. Configuration: only the blocks the service reads are validated (services/common/config.ts,
 *    SERVICE_BLOCKS). A bad value prints `<service>: Invalid configuration:` and one line per
 *    variable on stderr, and the process exits {@link EXIT.configuration} before any connection opens.
 * 2. Logging: one pino logger named after the service (services/common/logger.ts, secrets
 *    redacted); lines `starting` (with what the service describes of its settings), `started`,
 *    `stopping` (signal or reason), `stopped` (exit code).
 * 3. Signals: the first SIGTERM or SIGINT starts a graceful stop (finish or leave uncommitted
 *    what is in flight: at-least-once, nothing lost); a second one exits at once with
 *    {@link EXIT.runtime}.
 * 4. Exit codes (docs/architecture.md, "Exit codes"): 0 after a graceful stop or a task that
 *    finished well; 1 on a runtime failure (start-up failed, the service stopped by itself with an
 *    error, a stop that could not finish its work); 2 on a bad configuration. A task (the batch)
 *    may resolve its own code ({@link RunningService.finished}).
 * 5. An uncaught exception or unhandled rejection is one `fatal` line with its cause, exit 1.
 * 6. Health: a service that declares {@link ServiceDefinition.healthListener} gets `/healthz` and
 *    `/metrics` on that address from the start (health-server.ts): 503 while starting or stopping,
 *    then {@link RunningService.health}. A port that cannot be bound is one warning, not a failure
 *    (bound later when it frees: health-server.ts, listenWithRetry).
 *
 * Test hooks (e.g. the bronze writer's crash before commit) are passed by tests as `hooks`, never
 * read from the configuration.
 */
import { ConfigError, loadServiceConfig, type ServiceName, SERVICE_BLOCKS } from './config.ts';
import type { ConfigOf } from './config/define.ts';
import { createLogger, type Logger } from './logger.ts';
import { listenWithRetry, startHealthServer, type RetriedListener, type RuntimeState } from './health-server.ts';

/** Documented exit codes of every entry point. */
export const EXIT = { ok: 0, runtime: 1, configuration: 2 } as const;

export type { RuntimeState };

/** What a service's `start` returns. */
export interface RunningService {
  /**
   * Stops gracefully (idempotent): stop consuming, finish or abandon in-flight work without
   * committing it, close clients. Resolves `false` when work could not be finished (exit 1).
   */
  stop(): Promise<boolean | void>;
  /** Resolves with the error that stopped the service by itself; never rejects, may never resolve. */
  crashed: Promise<Error>;
  /** For a task: resolves with its exit code when it ends by itself (e.g. the batch refresh). */
  finished?: Promise<number>;
  /** Whether the service is healthy now, and why not. */
  health?(): { healthy: boolean; detail: string };
}

/** A service as the runtime runs it. */
export interface ServiceDefinition<S extends ServiceName, H = Record<string, never>> {
  /** Name in logs and messages, e.g. "bronze-writer". */
  name: string;
  /** Which configuration blocks it reads. */
  config: S;
  /** Settings worth one line at start-up (never secrets). */
  describe?(config: ConfigOf<(typeof SERVICE_BLOCKS)[S]>): Record<string, unknown>;
  /** Starts the service; resolves once it runs. `signal` aborts a start still in progress. */
  start(context: { config: ConfigOf<(typeof SERVICE_BLOCKS)[S]>; logger: Logger; hooks: Partial<H>; signal: AbortSignal }): Promise<RunningService>;
  /** Errors of `start` that mean "bad configuration" (exit 2), e.g. an invalid rules file. */
  isConfigurationError?(err: unknown): boolean;
  /** Where the runtime serves the service's /healthz and /metrics (health-server.ts); none when absent. */
  healthListener?(config: ConfigOf<(typeof SERVICE_BLOCKS)[S]>): { host: string; port: number };
}

/** Options of {@link runService}. */
export interface RunOptions<H> {
  env?: NodeJS.ProcessEnv;
  /** Test hooks, injected by tests (e.g. a test-only entry point). */
  hooks?: Partial<H>;
  /** Where the process ends; default process.exit (tests may observe it instead). */
  exit?: (code: number) => never | void;
}

/**
 * Runs `definition` until it stops, then exits with the documented code. Never returns normally
 * when `exit` is process.exit.
 */
export async function runService<S extends ServiceName, H>(definition: ServiceDefinition<S, H>, options: RunOptions<H> = {}): Promise<number> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let config: ConfigOf<(typeof SERVICE_BLOCKS)[S]>;
  try {
    config = loadServiceConfig(definition.config, options.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${definition.name}: ${err.message}`);
    exit(EXIT.configuration);
    return EXIT.configuration;
  }
  const logger = createLogger(definition.name, (config as { logLevel?: string }).logLevel);
  // Anything that escapes the service's own error handling: one fatal line with the cause, exit 1.
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.on(event, (err: unknown) => {
      logger.fatal({ err, event }, `${definition.name} crashed`);
      exit(EXIT.runtime);
    });
  }
  const code = await supervise(definition, config, logger, options.hooks ?? {}, exit);
  logger.info({ exitCode: code }, 'stopped');
  exit(code);
  return code;
}

async function supervise<S extends ServiceName, H>(
  definition: ServiceDefinition<S, H>,
  config: ConfigOf<(typeof SERVICE_BLOCKS)[S]>,
  logger: Logger,
  hooks: Partial<H>,
  exit: (code: number) => never | void,
): Promise<number> {
  const abort = new AbortController();
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    let count = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      count += 1;
      if (count === 1) {
        logger.info({ signal }, 'stopping');
        abort.abort(signal);
        resolve(signal);
      } else {
        logger.warn({ signal }, 'second signal: exiting now (unfinished work stays uncommitted and is redone on restart)');
        exit(EXIT.runtime);
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  logger.info(definition.describe?.(config) ?? {}, 'starting');
  let state: RuntimeState = 'starting';
  let running: RunningService | null = null;
  const health = await openHealthListener(definition, config, logger, () => ({ state, own: running?.health?.() ?? null }));
  try {
    return await superviseRunning();
  } finally {
    state = 'stopped';
    await health?.close();
  }

  async function superviseRunning(): Promise<number> {
    try {
      running = await definition.start({ config, logger, hooks, signal: abort.signal });
    } catch (err) {
      if (abort.signal.aborted) return EXIT.ok;
      if (err instanceof ConfigError || definition.isConfigurationError?.(err)) {
        console.error(`${definition.name}: ${(err as Error).message}`);
        return EXIT.configuration;
      }
      logger.fatal({ err }, 'start-up failed');
      return EXIT.runtime;
    }
    if (!abort.signal.aborted) logger.info('started');
    state = 'running';

    const outcome = await Promise.race([
      stopRequested.then((signal) => ({ kind: 'signal' as const, signal })),
      running.crashed.then((error) => ({ kind: 'crashed' as const, error })),
      ...(running.finished ? [running.finished.then((code) => ({ kind: 'finished' as const, code }))] : []),
    ]);
    if (outcome.kind === 'finished') return outcome.code;
    if (outcome.kind === 'crashed') logger.fatal({ err: outcome.error }, 'stopping: the service failed');
    state = 'stopping';
    let complete: boolean | void;
    try {
      complete = await running.stop();
    } catch (err) {
      logger.error({ err }, 'graceful stop failed');
      return EXIT.runtime;
    }
    if (outcome.kind === 'crashed') return EXIT.runtime;
    if (running.finished) return await running.finished;
    return complete === false ? EXIT.runtime : EXIT.ok;
  }
}

/** Starts the service's health endpoint, if it declares one; a bind failure is one warning, then retried. */
async function openHealthListener<S extends ServiceName, H>(
  definition: ServiceDefinition<S, H>,
  config: ConfigOf<(typeof SERVICE_BLOCKS)[S]>,
  logger: Logger,
  probe: Parameters<typeof startHealthServer>[3],
): Promise<RetriedListener | null> {
  const at = definition.healthListener?.(config);
  if (!at) return null;
  return listenWithRetry('health endpoint (/healthz, /metrics)', at, () => startHealthServer(definition.name, at.host, at.port, probe), logger);
}
