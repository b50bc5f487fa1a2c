/**
 * `npm run lakehouse -- <command>` (also the `lakehouse` bin): the operator's CLI, every command
 * with `--help`. The program is scripts/lib/lakehouse/program.ts; exit codes 0 done, 1 runtime
 * failure or refusal, 2 usage or configuration (docs/runbooks/ops.md).
 */
import { runLakehouse } from './lib/lakehouse/program.ts';

// Output piped into a reader that stops early (`| head`): stop quietly, as other CLIs do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await runLakehouse(process.argv.slice(2));
