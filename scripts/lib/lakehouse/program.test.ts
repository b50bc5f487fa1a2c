import type { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../../services/common/config.ts';
import { batchArgs } from './batch.ts';
import { describeError, exitCodeOf, UnreachableError, UsageError } from './errors.ts';
import { buildProgram, runLakehouse } from './program.ts';
import { parseTopics } from './replay.ts';

/** Runs the CLI in this process, capturing what it writes; no command here reaches a server. */
async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const l = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`));
  const c = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  try {
    return { code: await runLakehouse(argv, env), out, err };
  } finally {
    for (const s of [o, e, l, c]) s.mockRestore();
  }
}

function allCommands(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...allCommands(c, [...prefix, c.name()])]);
}

afterEach(() => vi.restoreAllMocks());

describe('lakehouse CLI', () => {
  it('lists every operator command in --help', async () => {
    const { code, out } = await cli(['--help']);
    expect(code).toBe(0);
    for (const name of ['status', 'replay', 'refresh', 'backfill', 'reset-slot', 'cdc']) expect(out).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    expect(out).toContain('Exit codes: 0 done');
  });

  it('has --help with a description on every command and subcommand', async () => {
    const commands = allCommands(buildProgram(() => undefined));
    expect(commands.map((c) => c.join(' '))).toEqual(
      expect.arrayContaining(['status', 'replay', 'refresh', 'backfill', 'reset-slot', 'cdc status', 'cdc drop-slot', 'cdc drop-publication']),
    );
    for (const path of commands) {
      const { code, out } = await cli([...path, '--help']);
      expect(code, path.join(' ')).toBe(0);
      expect(out, path.join(' ')).toContain(`Usage: lakehouse ${path.join(' ')}`);
      expect(out.split('\n')[2]?.trim().length, `${path.join(' ')} has a description`).toBeGreaterThan(10);
    }
  });

  it('exits 2 on usage errors, naming what is wrong', async () => {
    expect(await cli([])).toMatchObject({ code: 2 });
    expect(await cli(['nope'])).toMatchObject({ code: 2, err: expect.stringContaining("unknown command 'nope'") });
    expect(await cli(['cdc'])).toMatchObject({ code: 2 });
    expect(await cli(['cdc', 'drop-it'])).toMatchObject({ code: 2, err: expect.stringContaining("unknown command 'drop-it'") });
    expect(await cli(['status', '--jsn'])).toMatchObject({ code: 2, err: expect.stringContaining("unknown option '--jsn'") });
    expect(await cli(['replay', '--to-earliest'])).toMatchObject({ code: 2, err: expect.stringContaining("required option '--group <name>' not specified") });
    expect(await cli(['replay', '--group', 'bronze-writer'])).toMatchObject({ code: 2, err: expect.stringContaining('lakehouse replay: --to-earliest is required') });
    expect(await cli(['replay', '--group', 'g', '--to-earliest', '--topics', 'a,b', 'c', 'bad/name'])).toMatchObject({
      code: 2,
      err: expect.stringContaining('--topics: invalid topic name(s) "bad/name"'),
    });
  });

  it('exits 2 on an invalid setting, naming the variable, before connecting anywhere', async () => {
    for (const argv of [['status'], ['replay', '--group', 'g', '--to-earliest'], ['reset-slot', '--yes'], ['cdc', 'status'], ['cdc', 'drop-publication', '--yes']]) {
      const { code, err } = await cli(argv, { POSTGRES_PORT: 'eighty', KAFKA_BROKERS: 'no-port' });
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toContain(`lakehouse ${argv.filter((a) => !a.startsWith('-') && a !== 'g').join(' ')}: Invalid configuration:`);
      expect(err).toContain('POSTGRES_PORT: Invalid input: expected number, received NaN (got "eighty")');
      expect(err).toContain('KAFKA_BROKERS: expected host:port');
    }
  });
});

describe('exit codes and messages', () => {
  it('maps usage and configuration errors to 2, anything else to 1', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new ConfigError(['A: b']))).toBe(2);
    expect(exitCodeOf(new UnreachableError('Kafka', 'h:1', 'KAFKA_BROKERS', new Error('refused')))).toBe(1);
    expect(exitCodeOf(new Error('boom'))).toBe(1);
  });

  it('names the command, and the error class only when the message does not say it', () => {
    const refused = Object.assign(new Error('group "g" has 1 live member(s)'), { name: 'ReplayRefused' });
    expect(describeError('replay', refused)).toBe('lakehouse replay: ReplayRefused: group "g" has 1 live member(s)');
    expect(describeError('cdc status', new UnreachableError('PostgreSQL as the CDC role', '127.0.0.1:5432/sport', 'POSTGRES_PORT', new Error('connect ECONNREFUSED')))).toBe(
      'lakehouse cdc status: cannot reach PostgreSQL as the CDC role at 127.0.0.1:5432/sport (POSTGRES_PORT): connect ECONNREFUSED',
    );
    expect(describeError('status', new ConfigError(['POSTGRES_PORT: bad']))).toBe('lakehouse status: Invalid configuration:\n  - POSTGRES_PORT: bad');
  });
});

describe('arguments', () => {
  it('splits --topics on spaces and commas and refuses names Kafka would refuse', () => {
    expect(parseTopics(undefined)).toBeUndefined();
    expect(parseTopics(['a.b,c_d', 'e-f', ' , '])).toEqual(['a.b', 'c_d', 'e-f']);
    expect(() => parseTopics(['ok', 'not ok'])).toThrow(UsageError);
  });

  it('passes refresh and backfill options to the batch job', () => {
    expect(batchArgs({}, false)).toEqual([]);
    expect(batchArgs({ rules: 'my-rules.json', asOf: '2026-06-30T12:00:00Z' }, true)).toEqual(['--full', '--as-of', '2026-06-30T12:00:00Z', '--rules', 'my-rules.json']);
  });
});
