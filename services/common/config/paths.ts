/** The repository root, where relative paths in the configuration are resolved from. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (the directory holding package.json). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
