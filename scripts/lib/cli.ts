/**
 * Shared entry-point wrapper for the npm scripts: prints an error as one clear line (its class
 * and message, no stack unless DEBUG is set) and exits non-zero.
 */
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
