/**
 * `tsx scripts/build-services.ts <service>...` (`npm run build:services`): bundles a service's TypeScript into plain
 * JavaScript under dist/<service>/ with esbuild, so that it runs on bare Node.js without the tsx
 * loader (docs/decisions/0008-bronze-writer-runs-compiled.md: the loader's thread and transpile
 * caches cost the bronze writer 20-35 MB of its 300 MB budget, and a second of CPU per start).
 *
 * Our own modules are bundled (one file per entry point); npm packages stay external and are
 * loaded from node_modules as usual. Output: ES modules with source maps, for Node.js 24. The
 * bundle sits two directories below the repository root, like the sources in services/<name>/,
 * so paths resolved from import.meta.url (REPO_ROOT in services/common/config.ts, the encoder
 * worker next to main.js) stay the same.
 *
 * Takes well under a second; re-running it is harmless (it overwrites the bundle).
 * @throws (exit 1) on an unknown service or a build error, printed by esbuild.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');

/** Entry points per service; the first one is the service's main module. */
export const SERVICE_ENTRIES: Record<string, string[]> = {
  'bronze-writer': ['services/bronze-writer/main.ts', 'services/bronze-writer/encoder-worker.ts'],
};

/**
 * Bundles `service` into dist/<service>/.
 * @returns the absolute path of its main module (dist/<service>/main.js).
 * @throws Error naming the service when it has no entry points here; esbuild's error on a build failure.
 */
export async function bundleService(service: string): Promise<string> {
  const entries = SERVICE_ENTRIES[service];
  if (!entries) throw new Error(`unknown service "${service}" (known: ${Object.keys(SERVICE_ENTRIES).join(', ')})`);
  const outdir = path.join(REPO_ROOT, 'dist', service);
  await build({
    entryPoints: entries.map((entry) => path.join(REPO_ROOT, entry)),
    outdir,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: true,
    logLevel: 'warning',
  });
  return path.join(outdir, `${path.basename(entries[0]!, '.ts')}.js`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const services = process.argv.slice(2);
  if (services.length === 0) {
    console.error(`usage: tsx scripts/build-services.ts <service>... (known: ${Object.keys(SERVICE_ENTRIES).join(', ')})`);
    process.exit(2);
  }
  try {
    for (const service of services) await bundleService(service);
  } catch (err) {
    console.error(`build-services: ${(err as Error).message}`);
    process.exit(1);
  }
}
