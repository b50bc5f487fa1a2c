/**
 * Runs the project's long-lived services as child processes for the demo: one process per
 * service (`node --import tsx <entry>`, or `node <entry>` for a bundle already built to JavaScript;
 * signals reach the service itself, not a wrapper), its
 * stdout and stderr appended to `<logDir>/<name>.log`, and a graceful stop (SIGTERM, then SIGKILL
 * after a timeout). A service that exits on its own is reported through `onExit` and can be
 * restarted with {@link Supervisor.restart}, so a kill -9 during the demo is recovered from.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../services/common/config.ts';

export interface ServiceSpec {
  /** Short name, also the log file name. */
  name: string;
  /** Entry module, relative to the repository root. */
  entry: string;
  /** Extra environment for this service. */
  env?: Record<string, string>;
  /** Extra node options, e.g. heap limits (the same as the service's npm script). */
  nodeArgs?: string[];
  /** Arguments of the entry module, e.g. `--watch` for the refresh service. */
  args?: string[];
}

export interface RunningService {
  spec: ServiceSpec;
  child: ChildProcess;
  logFile: string;
  startedAt: number;
  restarts: number;
}

export class Supervisor {
  private readonly services = new Map<string, RunningService>();
  private stopping = false;

  constructor(
    private readonly logDir: string,
    private readonly baseEnv: NodeJS.ProcessEnv,
    private readonly onExit: (name: string, code: number | null, signal: NodeJS.Signals | null) => void = () => undefined,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  /** Starts `spec` unless it already runs. @returns the running service. */
  start(spec: ServiceSpec, restarts = 0): RunningService {
    const existing = this.services.get(spec.name);
    if (existing && existing.child.exitCode === null && existing.child.signalCode === null) return existing;
    const logFile = path.join(this.logDir, `${spec.name}.log`);
    const out = openSync(logFile, 'a');
    const loader = spec.entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), ...loader, path.join(REPO_ROOT, spec.entry), ...(spec.args ?? [])], {
      cwd: REPO_ROOT,
      env: { ...this.baseEnv, ...spec.env },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    const running: RunningService = { spec, child, logFile, startedAt: Date.now(), restarts };
    this.services.set(spec.name, running);
    child.once('exit', (code, signal) => {
      if (!this.stopping) this.onExit(spec.name, code, signal);
    });
    return running;
  }

  /** Starts the service again with the same spec (after a crash or a kill -9). */
  restart(name: string): RunningService {
    const current = this.services.get(name);
    if (!current) throw new Error(`unknown service ${name}`);
    return this.start(current.spec, current.restarts + 1);
  }

  get(name: string): RunningService | undefined {
    return this.services.get(name);
  }

  list(): RunningService[] {
    return [...this.services.values()];
  }

  /** True while the named service's process runs. */
  isRunning(name: string): boolean {
    const s = this.services.get(name);
    return !!s && s.child.exitCode === null && s.child.signalCode === null;
  }

  /**
   * Stops every service: SIGTERM to all, then SIGKILL to those still running after `timeoutMs`.
   * @returns exit codes by service name (null when killed by a signal).
   */
  async stopAll(timeoutMs = 30_000): Promise<Record<string, number | null>> {
    this.stopping = true;
    const results: Record<string, number | null> = {};
    await Promise.all(
      this.list().map(async ({ spec, child }) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          results[spec.name] = child.exitCode;
          return;
        }
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        results[spec.name] = await exited;
        clearTimeout(timer);
      }),
    );
    return results;
  }
}
