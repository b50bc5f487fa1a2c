/**
 * The project runs on Node.js 24 whatever Node.js the machine has (docs/decisions/0009-node-24-from-npm.md):
 * `npm ci` installs it into node_modules/.bin from the npm `node` package, npm scripts find it first,
 * and every child process the project spawns (services under the demo's supervisor, the CLI's
 * sub-commands, the tests' own children) runs on the parent's `process.execPath`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../services/common/config.ts';
import { Supervisor } from '../../scripts/lib/supervisor.ts';

const packageJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const PINNED = packageJson.devDependencies['node']!;

describe('Node.js runtime', () => {
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'runtime-test-'));
  afterAll(() => rmSync(logDir, { recursive: true, force: true }));

  it('runs the tests on the Node.js 24 that npm ci installed into node_modules', () => {
    expect(PINNED).toMatch(/^24\.\d+\.\d+$/);
    expect(packageJson.engines.node).toMatch(/^\^24\./);
    expect(process.versions.node).toBe(PINNED);
    expect(process.execPath).toBe(path.join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node'));
  });

  it('runs a service spawned like the demo spawns one on the same Node.js 24', async () => {
    const supervisor = new Supervisor(logDir, process.env);
    const service = supervisor.start({ name: 'print-runtime', entry: 'tests/support/print-runtime.ts' });
    const code = await new Promise<number | null>((resolve) => service.child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    const printed = JSON.parse(readFileSync(service.logFile, 'utf8').trim()) as { node: string; execPath: string };
    expect(printed).toEqual({ node: PINNED, execPath: process.execPath });
  });

  it("gives npm scripts the project's Node.js 24 even when the shell's PATH has another Node.js first", () => {
    // The PATH of a shell on a machine with only the system's Node.js: no node_modules/.bin in it.
    const shellPath = (process.env.PATH ?? '')
      .split(path.delimiter)
      .filter((dir) => !dir.includes(`node_modules${path.sep}.bin`))
      .join(path.delimiter);
    const printed = execFileSync('npm', ['exec', '--offline', '--', 'node', '--import', 'tsx', 'tests/support/print-runtime.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, PATH: shellPath },
      encoding: 'utf8',
    });
    expect(JSON.parse(printed.trim())).toEqual({ node: PINNED, execPath: path.join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node') });
  });
});
