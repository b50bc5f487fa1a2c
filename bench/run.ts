/**
 * `npm run bench -- <name> [args...]`: runs bench/<name>.ts, which prints its figures and ratios.
 * Benchmarks compare against a baseline measured in the same run, because these machines are
 * noisy; targets are checked here, never in timed tests.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.slice(0, -3)).sort();
const name = process.argv[2];
if (!name || name === '--help' || name === '-h') {
  console.log(`usage: npm run bench -- <name> [args]\navailable: ${available.join(', ') || '(none yet)'}`);
  process.exit(name ? 0 : 2);
}
const file = path.join(dir, `${name}.ts`);
if (!existsSync(file)) {
  console.error(`unknown benchmark "${name}"; available: ${available.join(', ') || '(none yet)'}`);
  process.exit(2);
}
process.argv.splice(2, 1);
await import(pathToFileURL(file).href);
