/**
 * `npm run config:env-example`: writes `.env.example` from the configuration blocks
 * (services/common/config/). `--check` only compares and exits 1 when the file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { envExampleText, REPO_ROOT } from '../services/common/config.ts';

const file = path.join(REPO_ROOT, '.env.example');
const text = envExampleText();
if (process.argv.includes('--check')) {
  if (readFileSync(file, 'utf8') !== text) {
    console.error('.env.example is stale: run `npm run config:env-example`');
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  console.log(`wrote ${path.relative(process.cwd(), file) || file}`);
}
