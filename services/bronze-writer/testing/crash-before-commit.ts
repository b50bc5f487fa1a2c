/**
 * Test-only entry point: the bronze writer exactly as main.ts runs it, plus a hook that kills the
 * process (SIGKILL) after the N-th stored file, before its offsets are committed (argument 1: N).
 * bronze-writer.int.test.ts uses it to prove nothing is lost between upload and commit.
 */
import { runService } from '../../common/runtime.ts';
import { bronzeWriterService } from '../definition.ts';

const afterFiles = Number(process.argv[2]);
if (!Number.isInteger(afterFiles) || afterFiles < 1) throw new Error('usage: crash-before-commit.ts <files>');

await runService(bronzeWriterService, {
  hooks: {
    beforeCommit(stats) {
      if (stats.files < afterFiles) return;
      process.stderr.write(`test hook: killing the bronze writer after ${stats.files} stored file(s), before the commit\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  },
});
