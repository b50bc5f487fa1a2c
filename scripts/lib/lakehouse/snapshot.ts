/**
 * `lakehouse snapshot`: incremental snapshots of the CDC service (services/cdc/README.md,
 * "Incremental snapshots"; docs/runbooks/incremental-snapshots.md).
 *
 * - `snapshot --table <schema.table> [--where "<predicate>"] [--chunk-rows N]`: checks the request
 *   as the CDC role (the table is captured and has a primary key; the predicate is one expression
 *   PostgreSQL accepts on the table, checked with EXPLAIN in a READ ONLY transaction), refuses it
 *   when a snapshot of the table is queued or running, then writes the signal into the WAL
 *   (`pg_logical_emit_message`, authenticated with the CDC role's password,
 *   services/common/contracts/cdc-signal.ts) and waits until the CDC service took it (queued or
 *   refused, read from its state topic). `--follow` then prints progress until it is done.
 * - `snapshot --stop [--table <schema.table>]`: stops the running and queued snapshots (of one table).
 * - `snapshot --status`: every table's latest incremental snapshot.
 *
 * Exit codes: 0 taken (or nothing to stop), 1 refused or failed (the message says why), 2 usage.
 * Without a running CDC service the signal waits in the WAL: the command says so and exits 0.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Config } from '../../../services/common/config.ts';
import { CHUNK_ROWS_MAX, CHUNK_ROWS_MIN, encodeSignalMessage, MAX_WHERE_LENGTH, SIGNAL_PREFIX, type CdcSignal } from '../../../services/common/contracts/cdc-signal.ts';
import { ACTIVE_STATUSES, snapshotPercent, type SnapshotStateRecord, type TableSnapshotState } from '../../../services/common/contracts/snapshot-state.ts';
import { createLogger } from '../../../services/common/logger.ts';
import { requester, snapshotRequestProblem } from '../../../services/cdc/incremental-snapshot-source.ts';
import { cdcConnection } from '../../../services/cdc/postgres-setup.ts';
import { readSnapshotStates, stateTopicOf } from '../../../services/cdc/snapshot-state-store.ts';
import { withKafkaAdmin, withPostgres } from './connections.ts';
import { EXIT_OK, EXIT_RUNTIME, UsageError } from './errors.ts';
import type { CommandContext } from './program.ts';

/** The request was refused, by this command's checks or by the CDC service (exit 1). */
export class SnapshotRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotRefused';
  }
}

/**
 * `schema.table` from `--table` (a bare name is in public, as in CDC_TABLES) (pure).
 * @throws UsageError for anything else.
 */
export function parseTableOption(value: string): string {
  const v = value.trim();
  if (!/^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/.test(v)) throw new UsageError(`--table: expected schema.table (lower-case SQL identifiers, as in CDC_TABLES), got "${value}"`);
  return v.includes('.') ? v : `public.${v}`;
}

/** `--chunk-rows` (pure). @throws UsageError outside 1..1,000,000. */
export function parseChunkRows(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < CHUNK_ROWS_MIN || n > CHUNK_ROWS_MAX) throw new UsageError(`--chunk-rows: expected an integer from ${CHUNK_ROWS_MIN} to ${CHUNK_ROWS_MAX}, got "${value}"`);
  return n;
}

/** One line for a table's snapshot (pure). */
export function describeSnapshot(s: TableSnapshotState): string {
  const percent = snapshotPercent(s);
  const progress = `${s.chunks} chunk${s.chunks === 1 ? '' : 's'}, ${s.rows.toLocaleString('en-US')} rows${percent === null ? '' : ` (${percent} %)`}`;
  const extra = [
    s.where ? `where ${s.where}` : null,
    s.supersededRows > 0 ? `${s.supersededRows} superseded by streamed changes` : null,
    s.deferredKeys.length > 0 ? `${s.deferredKeys.length} keys waiting for transactions` : null,
    s.reason ? s.reason : null,
  ].filter(Boolean);
  return `${s.table}: ${s.status}, ${progress}${extra.length ? `; ${extra.join('; ')}` : ''} (request ${s.id}, ${s.trigger === 'table-added' ? 'table added to CDC_TABLES' : `by ${s.requestedBy}`}, ${s.requestedAt})`;
}

/** The table snapshot records, most recent request first (pure). */
export function tableStates(records: Map<string, SnapshotStateRecord>): TableSnapshotState[] {
  return [...records.values()].filter((r): r is TableSnapshotState => r.kind === 'table').sort((a, b) => b.requestedAt.localeCompare(a.requestedAt));
}

const quiet = createLogger('lakehouse-snapshot', 'silent');

async function readStates(config: Config): Promise<Map<string, SnapshotStateRecord>> {
  return withKafkaAdmin(config, 'snapshot', (admin) => readSnapshotStates(config, quiet, admin));
}

/** Writes a signal into the WAL as the CDC role; returns its LSN. */
async function emitSignal(config: Config, signal: CdcSignal): Promise<string> {
  const content = encodeSignalMessage(signal, config.postgres.cdc.password);
  return withPostgres(cdcConnection(config), `CDC role ${config.postgres.cdc.user} (CDC_DB_USER)`, async (db) => {
    // The transaction id makes the commit flush the WAL, so the walsender sends the message at once.
    const res = await db.query<{ lsn: string }>('SELECT pg_logical_emit_message(false, $1, $2)::text AS lsn, pg_current_xact_id()', [SIGNAL_PREFIX, content]);
    return res.rows[0]!.lsn;
  });
}

/** Whether the CDC service holds its slot (it is running). */
async function slotActive(config: Config): Promise<boolean> {
  return withPostgres(cdcConnection(config), `CDC role ${config.postgres.cdc.user} (CDC_DB_USER)`, async (db) => {
    const res = await db.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [config.cdc.slotName]);
    return res.rows[0]?.active === true;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the state topic shows the request `id` (a table record or a refusal).
 * @returns the record, or null after `timeoutMs`.
 */
async function waitForRequest(config: Config, id: string, timeoutMs: number): Promise<SnapshotStateRecord | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await readStates(config);
    const refusal = records.get(`refusal:${id}`);
    if (refusal) return refusal;
    const accepted = tableStates(records).find((s) => s.id === id);
    if (accepted) return accepted;
    if (Date.now() > deadline) return null;
    await sleep(1_000);
  }
}

/** Prints progress until the table's snapshot `id` ends; @returns its final record. */
async function follow(config: Config, table: string, id: string): Promise<TableSnapshotState> {
  let last = '';
  for (;;) {
    const s = (await readStates(config)).get(`table:${table}`);
    if (s?.kind !== 'table' || s.id !== id) throw new SnapshotRefused(`the snapshot of ${table} (request ${id}) is no longer in the state topic ${stateTopicOf(config)}`);
    const line = describeSnapshot(s);
    if (line !== last) console.log(`[snapshot] ${line}`);
    last = line;
    if (!ACTIVE_STATUSES.includes(s.status)) return s;
    await sleep(2_000);
  }
}

interface StartOptions {
  table: string;
  where?: string;
  chunkRows?: string;
  wait: boolean;
  /** How long to wait for the service to take the request (default 60 s); null: no limit. */
  timeoutMs: number | null;
  follow?: boolean;
}

/** `--timeout-s` in ms, null when absent (pure). @throws UsageError for a negative or non-numeric value. */
export function parseTimeout(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--timeout-s: expected a number of seconds, got "${value}"`);
  return n * 1000;
}

async function startSnapshot(config: Config, opts: StartOptions): Promise<number> {
  const table = parseTableOption(opts.table);
  const chunkRows = parseChunkRows(opts.chunkRows);
  const where = opts.where === undefined ? null : opts.where.trim();
  if (where !== null && (where === '' || where.length > MAX_WHERE_LENGTH)) throw new UsageError(`--where: expected an SQL condition of 1 to ${MAX_WHERE_LENGTH} characters`);
  const timeoutS = (opts.timeoutMs ?? 60_000) / 1000;

  const problem = await withPostgres(cdcConnection(config), `CDC role ${config.postgres.cdc.user} (CDC_DB_USER)`, (db) => snapshotRequestProblem(db, config, table, where));
  if (problem) throw new SnapshotRefused(problem);
  const current = (await readStates(config)).get(`table:${table}`);
  if (current?.kind === 'table' && ACTIVE_STATUSES.includes(current.status)) {
    throw new SnapshotRefused(`an incremental snapshot of ${table} is already ${current.status}: ${describeSnapshot(current)}. Stop it first: npm run lakehouse -- snapshot --stop --table ${table}`);
  }

  const id = randomUUID();
  const lsn = await emitSignal(config, {
    type: 'execute-snapshot', id, slot: config.cdc.slotName, table, where, chunkRows, requestedAt: new Date().toISOString(), requestedBy: requester('lakehouse-cli'),
  });
  console.log(`[snapshot] requested an incremental snapshot of ${table}${where ? ` where ${where}` : ''} (request ${id}, signal at WAL position ${lsn})`);
  if (!opts.wait) return EXIT_OK;
  const answer = await waitForRequest(config, id, timeoutS * 1000);
  if (answer === null) {
    if (!(await slotActive(config))) {
      console.log(`[snapshot] the CDC service is not running (slot ${config.cdc.slotName} is inactive): the request waits in the WAL and starts when the service does (npm run cdc)`);
      return EXIT_OK;
    }
    throw new SnapshotRefused(`the CDC service (slot ${config.cdc.slotName}) did not take request ${id} within ${timeoutS} s; check its log, then npm run lakehouse -- snapshot --status`);
  }
  if (answer.kind === 'refusal') throw new SnapshotRefused(`the CDC service refused it: ${answer.reason}`);
  if (answer.kind !== 'table') return EXIT_RUNTIME;
  console.log(`[snapshot] ${describeSnapshot(answer)}`);
  if (!opts.follow) {
    console.log('[snapshot] follow it with: npm run lakehouse -- snapshot --status');
    return EXIT_OK;
  }
  const end = await follow(config, table, id);
  return end.status === 'done' ? EXIT_OK : EXIT_RUNTIME;
}

async function stopSnapshot(config: Config, tableOption: string | undefined): Promise<number> {
  const table = tableOption === undefined ? null : parseTableOption(tableOption);
  const states = tableStates(await readStates(config)).filter((s) => ACTIVE_STATUSES.includes(s.status) && (table === null || s.table === table));
  if (states.length === 0) {
    console.log(`[snapshot] no incremental snapshot ${table ? `of ${table} ` : ''}is queued or running: nothing to stop`);
    return EXIT_OK;
  }
  const id = randomUUID();
  await emitSignal(config, { type: 'stop-snapshot', id, slot: config.cdc.slotName, table, requestedAt: new Date().toISOString(), requestedBy: requester('lakehouse-cli') });
  console.log(`[snapshot] stop requested for ${states.map((s) => s.table).join(', ')} (request ${id})`);
  if (!(await slotActive(config))) {
    console.log('[snapshot] the CDC service is not running: it stops them when it starts and reads the request');
    return EXIT_OK;
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const records = await readStates(config);
    const still = states.filter((s) => {
      const r = records.get(`table:${s.table}`);
      return r?.kind === 'table' && r.id === s.id && ACTIVE_STATUSES.includes(r.status);
    });
    if (still.length === 0) break;
    if (Date.now() > deadline) throw new SnapshotRefused(`still running after 60 s: ${still.map((s) => s.table).join(', ')}; check the CDC service's log`);
    await sleep(1_000);
  }
  for (const s of states) console.log(`[snapshot] ${s.table}: stopped after ${s.chunks} chunks (resume with a new request; rows already sent stay in the topic)`);
  return EXIT_OK;
}

/** The `lakehouse status` part: every table's latest incremental snapshot, or why it could not be read. */
export type SnapshotSection = { snapshots: TableSnapshotState[] } | { error: string };

export async function readSnapshotSection(config: Config): Promise<SnapshotSection> {
  try {
    return { snapshots: tableStates(await readStates(config)) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The lines `lakehouse status` prints for it (pure). */
export function snapshotSectionLines(section: SnapshotSection): string[] {
  if ('error' in section) return ['Incremental snapshots (CDC)', `  unreadable: ${section.error}`];
  if (section.snapshots.length === 0) return ['Incremental snapshots (CDC)', '  none'];
  return ['Incremental snapshots (CDC)', ...section.snapshots.map((s) => `  ${describeSnapshot(s)}`)];
}

/**
 * Prints every table's latest snapshot (or `table`'s). With `wait`: until the table is captured by
 * the running service (a table just added to CDC_TABLES) and none of its snapshots is queued or
 * running any more, printing progress; exit 1 when the last one failed or stopped.
 */
async function showStatus(config: Config, tableOption: string | undefined, wait: boolean, timeoutMs: number | null): Promise<number> {
  const table = tableOption === undefined ? null : parseTableOption(tableOption);
  const deadline = timeoutMs === null ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
  let printed = '';
  for (;;) {
    const records = await readStates(config);
    const states = tableStates(records).filter((s) => table === null || s.table === table);
    const lines = states.length === 0 ? [`[snapshot] no incremental snapshot${table ? ` of ${table}` : ''} yet (state topic ${stateTopicOf(config)})`] : states.map((s) => `[snapshot] ${describeSnapshot(s)}`);
    const text = lines.join('\n');
    if (text !== printed) console.log(text);
    printed = text;
    if (!wait) return EXIT_OK;
    const captured = records.get('captured');
    const seen = table === null || (captured?.kind === 'captured' && captured.tables.includes(table));
    if (seen && !states.some((s) => ACTIVE_STATUSES.includes(s.status))) {
      const last = states[0];
      return last && (last.status === 'failed' || last.status === 'stopped') ? EXIT_RUNTIME : EXIT_OK;
    }
    if (Date.now() > deadline) throw new SnapshotRefused(`still waiting after ${Math.round((timeoutMs ?? 0) / 1000)} s${seen ? '' : `: the CDC service has not recorded ${table} as captured (is it running with ${table} in CDC_TABLES?)`}`);
    await sleep(2_000);
  }
}

export function registerSnapshot(program: Command, ctx: CommandContext): void {
  program
    .command('snapshot')
    .description('incremental snapshot of one captured table (or the rows matching --where) while streaming goes on; --stop, --status')
    .option('--table <schema.table>', 'the captured table to snapshot again (a bare name is in public)')
    .option('--where <predicate>', 'only the rows matching this SQL condition on the table\'s columns (checked, run read-only as the CDC role)')
    .option('--chunk-rows <n>', 'rows per chunk (default CDC_INCREMENTAL_CHUNK_ROWS)')
    .option('--follow', 'after the request was taken, print progress until the snapshot ends (exit 0 when done)')
    .option('--stop', 'stop the running and queued incremental snapshots (of --table only, when given)')
    .option('--status', 'every table\'s latest incremental snapshot and its progress (of --table only, when given)')
    .option('--wait', 'with --status: wait until the table is captured and no snapshot of it is queued or running')
    .option('--no-wait', 'with a request: write it and exit, without waiting for the CDC service to take it')
    .option('--timeout-s <seconds>', 'give up waiting after this long (default: 60 s for the service to take a request; no limit for --follow and --wait)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  npm run lakehouse -- snapshot --table public.activities\n' +
        '  npm run lakehouse -- snapshot --table public.activities --where "started_at >= \'2024-06-01\'" --follow\n' +
        '  npm run lakehouse -- snapshot --stop --table public.activities\n' +
        'Tables without a primary key are refused. Runbook: docs/runbooks/incremental-snapshots.md',
    )
    .action(async (opts: { table?: string; where?: string; chunkRows?: string; wait: boolean | undefined; timeoutS?: string; follow?: boolean; stop?: boolean; status?: boolean }) => {
      await ctx.run('snapshot', async () => {
        const timeoutMs = parseTimeout(opts.timeoutS);
        // commander's --no-wait makes `wait` true by default; --wait is the same flag for --status.
        const starting = !opts.stop && !opts.status;
        if (opts.stop && opts.status) throw new UsageError('--stop and --status: one at a time');
        if (!opts.status && !opts.stop && opts.table === undefined) throw new UsageError('say what to do: --table <schema.table> (start), --stop [--table ...] or --status [--table ...]');
        if (!starting && (opts.where !== undefined || opts.chunkRows !== undefined || opts.follow)) throw new UsageError('--where, --chunk-rows and --follow go with a new request (--table without --stop or --status)');
        const config = ctx.config();
        if (opts.status) return showStatus(config, opts.table, opts.wait === true, timeoutMs);
        if (opts.stop) return stopSnapshot(config, opts.table);
        return startSnapshot(config, { table: opts.table!, where: opts.where, chunkRows: opts.chunkRows, wait: opts.wait !== false, timeoutMs, follow: opts.follow });
      });
    });
}
