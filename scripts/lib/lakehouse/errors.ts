/**
 * Exit codes and error classes of the ops CLI (`npm run lakehouse -- <command>`,
 * docs/runbooks/ops.md, "Exit codes").
 *
 * - 0: done (also: nothing to do, e.g. a slot that is already gone);
 * - 1: runtime failure or refusal: a system could not be reached or read, a guard refused the
 *   change (a live consumer group, a slot held by the running CDC service), the operator declined;
 * - 2: usage or configuration: unknown command or option, a missing or invalid argument, an
 *   invalid environment variable (named in the message), no terminal to confirm on without --yes.
 */
import { ConfigError } from '../../../services/common/config.ts';
import { kafkaErrorMessage } from '../../../services/common/kafka/index.ts';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/** A command was called wrongly (a missing or invalid argument): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A system the command needs could not be reached; the message names the system, where the
 * configuration points to, and the variables that set it. Exit code 1.
 */
export class UnreachableError extends Error {
  constructor(what: string, where: string, variables: string, cause: unknown) {
    super(`cannot reach ${what} at ${where} (${variables}): ${kafkaErrorMessage(cause)}`, { cause });
    this.name = 'UnreachableError';
  }
}

/** The exit code for an error thrown by a command's action (pure). */
export function exitCodeOf(err: unknown): number {
  return err instanceof UsageError || err instanceof ConfigError ? EXIT_USAGE : EXIT_RUNTIME;
}

/**
 * The one line (a block for a configuration error) the CLI prints for `err`, prefixed with the
 * command's name: `lakehouse replay: ReplayRefused: consumer group ... has 1 live member(s) ...`.
 * The error's class is shown when it says something the message does not (not for usage,
 * configuration and unreachable-system errors, whose messages say it).
 */
export function describeError(command: string, err: unknown): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const plain = e instanceof ConfigError || e instanceof UsageError || e instanceof UnreachableError || !e.name || e.name === 'Error';
  const kind = plain ? '' : `${e.name}: `;
  return `lakehouse ${command}: ${kind}${e.message}`;
}
