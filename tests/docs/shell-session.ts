/**
 * A bash session on a terminal, as a reader of the docs has one: an interactive bash under
 * `script` (a pseudo-terminal, so job control works: a background job has its own process group
 * and `kill %1` stops all of it, as in a terminal). Commands are typed one after the other;
 * variables, the directory and background jobs carry over from one to the next.
 *
 * Each command runs with stdin from /dev/null (a command never reads what is typed next) and
 * is followed by a marker line carrying its exit code, which is how {@link ShellSession.run}
 * knows it finished. Output is the terminal's (stdout and stderr together, `\r\n` made `\n`).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The interactive shell a reader types into (no rc files: the session must not depend on them). */
const INTERACTIVE_SHELL = 'bash --norc --noprofile -i';

/** Quotes `s` for bash (single quotes). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

export interface RunResult {
  /** Exit code of the command, or null when it timed out (the session is then unusable). */
  code: number | null;
  output: string;
}

export class ShellSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = '';
  private counter = 0;
  private waiter: (() => void) | null = null;
  private readonly ready: Promise<void>;

  /** Starts `bash -i` on a pseudo-terminal in `cwd` with exactly `env`. */
  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    // `script -c` runs its command through $SHELL; pinned to bash so that nothing (a `sh -c` when
    // SHELL is unset or dash, as on CI) stands between `script` and the interactive shell.
    this.child = spawn('script', ['-qfec', INTERACTIVE_SHELL, '/dev/null'], { cwd, env: { ...env, SHELL: '/bin/bash', TERM: 'dumb', PS1: '' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const take = (d: Buffer) => {
      this.buffer += d.toString().replace(/\r\n/g, '\n');
      this.waiter?.();
    };
    this.child.stdout.on('data', take);
    this.child.stderr.on('data', take);
    this.child.stdin.write("stty -echo; PS1=''; PS2=''; set +H; printf '__SESSION_READY__\\n'\n");
    this.ready = this.waitFor(/__SESSION_READY__\n/, 30_000).then(() => {
      this.buffer = '';
    });
  }

  /** The pid of the `script` process (its process group holds the whole session). */
  get pid(): number {
    return this.child.pid!;
  }

  private async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.buffer);
      if (m) return m;
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /**
   * Types `command` (stdin from /dev/null) and waits until it has finished.
   * @returns its exit code and output; code null after `timeoutMs`.
   */
  async run(command: string, timeoutMs: number): Promise<RunResult> {
    await this.ready;
    const n = ++this.counter;
    this.buffer = '';
    this.child.stdin.write(`{ ${command}\n} < /dev/null; printf '\\n__DOC_RC_${n}__ %d\\n' $?\n`);
    const m = await this.waitFor(new RegExp(`\\n?__DOC_RC_${n}__ (\\d+)\\n`), timeoutMs);
    if (!m) return { code: null, output: this.buffer };
    const output = this.buffer.slice(0, m.index);
    this.buffer = this.buffer.slice(m.index + m[0].length);
    return { code: Number(m[1]), output };
  }

  /**
   * The pid of the interactive bash the commands are typed into, found by its command line under
   * `script` (whatever wrapper `script` put in between); null when it is gone.
   */
  private interactiveShell(): number | null {
    return descendants(this.child.pid!).find((p) => cmdline(p) === INTERACTIVE_SHELL) ?? null;
  }

  /**
   * The command lines of the processes the session's commands left running (its background jobs),
   * after giving jobs that were just signalled (`kill %1`) up to `graceMs` to finish stopping.
   */
  async leftovers(graceMs = 30_000): Promise<string[]> {
    await this.ready;
    const shell = this.interactiveShell();
    if (shell === null) return [];
    const running = () => descendants(shell).map(cmdline).filter((c) => c !== '');
    const deadline = Date.now() + graceMs;
    while (running().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    return running();
  }

  /** Ends the session: its background jobs get SIGTERM, then everything left gets SIGKILL. */
  async close(): Promise<void> {
    const group = this.child.pid!;
    const alive = () => {
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    };
    // Background jobs have process groups of their own (job control): signal each whole group.
    const shell = this.interactiveShell();
    const shellGroups = new Set([group, ...descendants(group).filter((p) => shell === null || !descendants(shell).includes(p)).map(pgidOf)]);
    const jobs = () => (shell === null ? [] : descendants(shell));
    const groups = () => [...new Set(jobs().map(pgidOf).filter((g): g is number => g !== null && !shellGroups.has(g)))];
    for (const g of groups()) signal(-g, 'SIGTERM');
    for (let i = 0; i < 100 && groups().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    for (const g of groups()) signal(-g, 'SIGKILL');
    for (const pid of descendants(group)) signal(pid, 'SIGKILL');
    this.child.stdin.end();
    if (alive()) signal(-group, 'SIGKILL');
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** The process group of `pid` (Linux /proc), null when it is gone. */
function pgidOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}

/** The children of `pid` (Linux /proc); none when it is gone. */
function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** Every descendant of `pid` (Linux /proc), children before grandchildren. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const found = children(queue.shift()!);
    out.push(...found);
    queue.push(...found);
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Whether `pid` runs a Node.js program (npm retitles itself `npm ...`, so npm is not one). */
const isNode = (pid: number) => /^(\S*\/)?node\s/.test(cmdline(pid));

/**
 * The Node.js processes under `pid` that run no Node.js process themselves: the services a
 * wrapper (`npm run`, `sh -c`) started, whatever helpers they have (tsx's esbuild).
 */
export function nodeWorkers(pid: number): { pid: number; cmdline: string }[] {
  return descendants(pid)
    .filter((p) => isNode(p) && !descendants(p).some(isNode))
    .map((p) => ({ pid: p, cmdline: cmdline(p) }));
}
