#!/usr/bin/env node
// The `lakehouse` bin (package.json "bin"), the same program as `npm run lakehouse -- <command>`:
// registers tsx's loader from this package, so it runs from any directory, then runs the
// TypeScript entry point scripts/lakehouse.ts.
import { register } from 'tsx/esm/api';

register();
await import('../scripts/lakehouse.ts');
