/**
 * The ops CLI, `npm run lakehouse -- <command>` (or the `lakehouse` bin, bin/lakehouse.js): every
 * operator command in one commander program, `--help` on each (docs/runbooks/ops.md).
 *
 * Each command lives in its own module and registers itself here; a new one (issue 16's
 * `snapshot`) is one `register*` call, or one `addCommand` for a commander command built next to
 * its core (`prepare-source`, services/cdc/source-prep/cli.ts). Commands report through
 * exit codes (errors.ts): 0 done, 1 runtime failure or refusal, 2 usage or configuration.
 */
import { Command, CommanderError } from 'commander';
import { prepareSourceCommand } from '../../../services/cdc/source-prep/cli.ts';
import { loadConfig, type Config } from '../../../services/common/config.ts';
import { registerBatch } from './batch.ts';
import { registerCdc } from './cdc.ts';
import { describeError, EXIT_USAGE, exitCodeOf } from './errors.ts';
import { registerKafkaAccess } from './kafka-access.ts';
import { registerReplay } from './replay.ts';
import { registerSnapshot } from './snapshot.ts';
import { registerStatus } from './status.ts';

/** What a command's action gets from the program. */
export interface CommandContext {
  /** The validated configuration (read once, on first use). @throws ConfigError (exit 2). */
  config(): Config;
  /**
   * Runs a command's body and records its exit code; an error is printed as one line naming the
   * command (a configuration error as its block) and mapped to 1 or 2 (errors.ts).
   */
  run(command: string, body: () => Promise<number>): Promise<void>;
}

const EPILOG = `
Configuration: environment variables, then .env at the repository root (see .env.example).
Exit codes: 0 done (or nothing to do), 1 runtime failure or refusal (a system unreachable, a live
consumer group, a slot held by the CDC service, a declined confirmation), 2 usage or configuration
(unknown command or option, bad argument, invalid variable: the message names it).
Runbooks: docs/runbooks/ops.md, docs/runbooks/replay.md.`;

/**
 * Builds the program. `onExit` receives the exit code of the command that ran.
 * @param env variables to read the configuration from (default: process.env and .env).
 */
export function buildProgram(onExit: (code: number) => void, env?: NodeJS.ProcessEnv): Command {
  let config: Config | undefined;
  const ctx: CommandContext = {
    config: () => (config ??= env ? loadConfig(env) : loadConfig()),
    async run(command, body) {
      try {
        onExit(await body());
      } catch (err) {
        console.error(describeError(command, err));
        if (process.env.DEBUG && err instanceof Error) console.error(err.stack);
        onExit(exitCodeOf(err));
      }
    },
  };
  const program = new Command('lakehouse')
    .description('Operate the sport rewards lakehouse: status, replay, refresh, backfill, CDC slot and publication, incremental snapshots, source preparation, Kafka access')
    .usage('<command> [options]')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EPILOG);
  registerStatus(program, ctx);
  registerReplay(program, ctx);
  registerBatch(program, ctx);
  registerCdc(program, ctx);
  registerSnapshot(program, ctx);
  registerKafkaAccess(program, ctx);
  program.addCommand(prepareSourceCommand());
  applyToTree(program);
  return program;
}

/**
 * Usage errors throw (mapped to exit code 2 by {@link runLakehouse}) on every command, also on
 * commands built elsewhere and added with `addCommand` (which inherits no settings); a group of
 * commands without a subcommand (`lakehouse cdc`) prints its help and exits 2.
 */
function applyToTree(cmd: Command): void {
  for (const sub of cmd.commands) {
    sub.exitOverride().showHelpAfterError('(add --help for usage)');
    if (sub.commands.length > 0) sub.usage('<command> [options]');
    applyToTree(sub);
  }
}

/**
 * Runs the CLI on `argv` (without node and the script path); resolves the exit code.
 * Usage errors (commander's: unknown command or option, missing argument) are 2; `--help` is 0.
 */
export async function runLakehouse(argv: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  let code: number | undefined;
  const program = buildProgram((c) => (code = c), env);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    throw err;
  }
  // A command added from elsewhere may report through process.exitCode instead of ctx.run.
  return code ?? (typeof process.exitCode === 'number' ? process.exitCode : 0);
}
