/**
 * Shared entry-point wrapper for the npm scripts: prints an error as one clear line (its class
 * and message, no stack unless DEBUG is set) and exits non-zero.
 */
import { InvalidArgumentError } from 'commander';

export async function runMain(name: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    const e = err as Error;
    console.error(`[${name}] ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`);
    if (process.env.DEBUG) console.error(e.stack);
    process.exit(1);
  }
}

/**
 * A commander argument parser for a positive integer option.
 * @throws InvalidArgumentError (commander prints it with the option's name) otherwise.
 */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer (got "${value}")`);
  return n;
}
