/**
 * A gold.duckdb reader run as a child process by the integration tests (a Power BI stand-in):
 * - `hold <file>`: opens the file read-only, answers `build_info.run_id` at start, keeps the
 *   connection open until SIGTERM, then prints `{"held":"<run id at start>","heldAtEnd":"<run id read on exit>"}`;
 * - `poll <file>`: until SIGTERM, opens the file read-only again and again and checks that it is
 *   whole (every gold table has the row count build_info recorded); prints
 *   `{"opens":n,"runIds":[...],"errors":[...]}`.
 * The first line on stdout is `ready` once the first read succeeded.
 */
import { DuckDBInstance } from '@duckdb/node-api';

const [mode, file] = process.argv.slice(2);
if (!file || (mode !== 'hold' && mode !== 'poll')) {
  console.error('usage: gold-reader.ts hold|poll <gold.duckdb>');
  process.exit(2);
}

let stop = false;
process.on('SIGTERM', () => (stop = true));

async function openReadOnly() {
  const instance = await DuckDBInstance.create(file!, { access_mode: 'READ_ONLY' });
  return { instance, conn: await instance.connect() };
}

async function runId(conn: Awaited<ReturnType<typeof openReadOnly>>['conn']): Promise<string> {
  const rows = (await conn.runAndReadAll('SELECT run_id FROM build_info')).getRowObjectsJson();
  return String(rows[0]?.run_id);
}

if (mode === 'hold') {
  const { conn } = await openReadOnly();
  const held = await runId(conn);
  console.log('ready');
  while (!stop) await new Promise((r) => setTimeout(r, 20));
  console.log(JSON.stringify({ held, heldAtEnd: await runId(conn) }));
} else {
  const runIds = new Set<string>();
  const errors: string[] = [];
  let opens = 0;
  let first = true;
  while (!stop) {
    try {
      const { instance, conn } = await openReadOnly();
      try {
        const rows = (await conn.runAndReadAll('SELECT run_id, row_counts::VARCHAR AS counts FROM build_info')).getRowObjectsJson();
        const counts = JSON.parse(String(rows[0]?.counts)) as Record<string, number>;
        for (const [name, expected] of Object.entries(counts)) {
          if (!name.startsWith('gold.')) continue;
          const got = (await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM "${name.slice(5)}"`)).getRowObjectsJson()[0]?.n;
          if (got !== expected) errors.push(`${name}: ${got} rows, build_info says ${expected}`);
        }
        runIds.add(String(rows[0]?.run_id));
        opens++;
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
      if (first) {
        console.log('ready');
        first = false;
      }
    } catch (err) {
      errors.push((err as Error).message);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  console.log(JSON.stringify({ opens, runIds: [...runIds], errors }));
}
