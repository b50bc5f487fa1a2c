/**
 * The CDC service's PostgreSQL objects, for operators:
 *
 * - `lakehouse cdc status`: the replication slot and its snapshot marker (active, walsender pid,
 *   confirmed LSN, lag in bytes, wal_status) and the publication with its tables;
 * - `lakehouse reset-slot` (also `lakehouse cdc drop-slot`): drops the slot and the snapshot
 *   marker as the CDC role, after a confirmation (`--yes` for scripts); refused while the CDC
 *   service holds the slot. The next CDC start creates a new slot and takes a new consistent
 *   snapshot (docs/runbooks/ops.md, "A stuck replication slot");
 * - `lakehouse cdc drop-publication`: drops CDC_PUBLICATION as POSTGRES_USER (its owner; the CDC
 *   role cannot), after a confirmation; refused while the CDC service streams. `npm run db:migrate`
 *   or the CDC service (CDC_ADMIN_SETUP=true) creates it again.
 *
 * Every command is idempotent: an object that is already gone is reported and exits 0.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { pgConnection, type Config } from '../../../services/common/config.ts';
import { formatBytes } from '../../../services/common/status/format.ts';
import { readSlotStatus } from '../../../services/common/status/replication-slot.ts';
import { cdcConnection, dropSlotIfExists, snapshotMarkerSlot } from '../../../services/cdc/postgres-setup.ts';
import { withPostgres } from './connections.ts';
import { EXIT_OK, UsageError } from './errors.ts';
import type { CommandContext } from './program.ts';

/** The operator declined a confirmation prompt; nothing was changed (exit 1). */
export class NotConfirmed extends Error {
  constructor() {
    super('not confirmed: nothing changed');
    this.name = 'NotConfirmed';
  }
}

/** The change would break a running CDC service (exit 1); the message says what to stop. */
export class CdcRunning extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CdcRunning';
  }
}

/**
 * Asks `question` on the terminal unless `yes`.
 * @throws UsageError without a terminal (and without --yes), NotConfirmed when the answer is not yes.
 */
async function confirmOrThrow(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new UsageError('no terminal to confirm on: pass --yes to do it without asking');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    if (!/^(y|yes|o|oui)$/i.test((await rl.question(`${question} [y/N] `)).trim())) throw new NotConfirmed();
  } finally {
    rl.close();
  }
}

const cdcRole = (config: Config) => `CDC role ${config.postgres.cdc.user} (CDC_DB_USER)`;
const adminRole = (config: Config) => `owner role ${config.postgres.admin.user} (POSTGRES_USER)`;

/** Drops the slot and its snapshot marker after a confirmation; see the module comment. */
async function dropSlot(config: Config, yes: boolean | undefined): Promise<number> {
  const slotName = config.cdc.slotName;
  await withPostgres(cdcConnection(config), cdcRole(config), async (db) => {
    const names = [slotName, snapshotMarkerSlot(slotName)];
    const slots = await Promise.all(names.map((n) => readSlotStatus(db, n)));
    const present = slots.filter((s) => s.exists);
    if (present.length === 0) {
      console.log(`slot ${slotName} does not exist (CDC_SLOT_NAME): nothing to reset`);
      return;
    }
    const held = present.find((s) => s.active);
    if (held) throw new CdcRunning(`slot ${held.slotName} is held by a running CDC process (walsender pid ${held.activePid}): stop the CDC service first`);
    console.log(
      `Dropping slot ${slotName} releases the WAL it retains. Changes made until the next CDC start are not\n` +
        'streamed one by one: the new initial snapshot publishes the current rows (op "r") instead, and deletes in between are lost.',
    );
    await confirmOrThrow(`Drop replication slot ${slotName}?`, yes);
    for (const s of present) if (await dropSlotIfExists(db, s.slotName)) console.log(`dropped slot ${s.slotName}`);
    console.log('done: the next `npm run cdc` creates the slot again and takes a new snapshot');
  });
  return EXIT_OK;
}

/** Drops CDC_PUBLICATION after a confirmation; see the module comment. */
async function dropPublication(config: Config, yes: boolean | undefined): Promise<number> {
  const name = config.postgres.publication;
  await withPostgres(pgConnection(config, 'admin'), adminRole(config), async (db) => {
    const exists = (await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name])).rowCount;
    if (!exists) {
      console.log(`publication ${name} does not exist (CDC_PUBLICATION): nothing to drop`);
      return;
    }
    const slot = await readSlotStatus(db, config.cdc.slotName);
    if (slot.active) throw new CdcRunning(`the CDC service streams through publication ${name} (slot ${slot.slotName}, walsender pid ${slot.activePid}): stop it first`);
    console.log(`Dropping publication ${name}: the CDC service cannot stream until \`npm run db:migrate\` (or its own start with CDC_ADMIN_SETUP=true) creates it again.`);
    await confirmOrThrow(`Drop publication ${name}?`, yes);
    await db.query(`DROP PUBLICATION IF EXISTS ${db.escapeIdentifier(name)}`);
    console.log(`dropped publication ${name}`);
  });
  return EXIT_OK;
}

/** Prints the slot, its marker and the publication. */
async function cdcStatus(config: Config): Promise<number> {
  await withPostgres(cdcConnection(config), cdcRole(config), async (db) => {
    for (const name of [config.cdc.slotName, snapshotMarkerSlot(config.cdc.slotName)]) {
      const s = await readSlotStatus(db, name);
      if (!s.exists) console.log(`slot ${name}: absent`);
      else {
        const who = s.active ? `active (walsender pid ${s.activePid})` : 'INACTIVE';
        const lsn = s.confirmedFlushLsn === null ? '' : `, confirmed ${s.confirmedFlushLsn}, lag ${formatBytes(s.lagBytes ?? 0)} (${s.lagBytes ?? 0} bytes)`;
        console.log(`slot ${name}: ${who}${lsn}${s.walStatus ? `, wal_status ${s.walStatus}` : ''}`);
      }
    }
    const pub = config.postgres.publication;
    const exists = (await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [pub])).rowCount;
    const tables = await db.query<{ name: string }>("SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1", [pub]);
    console.log(exists ? `publication ${pub}: ${tables.rows.map((r) => r.name).join(', ') || '(no tables)'}` : `publication ${pub}: absent`);
  });
  return EXIT_OK;
}

export function registerCdc(program: Command, ctx: CommandContext): void {
  const slotHelp = '\nThe next CDC start creates a new slot and takes a new consistent snapshot; changes made in between are\nnot streamed one by one (docs/runbooks/ops.md, "A stuck replication slot").';
  program
    .command('reset-slot')
    .description('drop the CDC replication slot (asks first); the next CDC start takes a new snapshot')
    .option('--yes', 'do not ask for confirmation (for scripts)')
    .addHelpText('after', slotHelp)
    .action(async (opts: { yes?: boolean }) => {
      await ctx.run('reset-slot', () => dropSlot(ctx.config(), opts.yes));
    });

  const cdc = program.command('cdc').description('the CDC replication slot and publication: status, drop-slot, drop-publication');
  cdc
    .command('status')
    .description('the slot and its snapshot marker (active, confirmed LSN, lag in bytes) and the publication\'s tables')
    .action(async () => {
      await ctx.run('cdc status', () => cdcStatus(ctx.config()));
    });
  cdc
    .command('drop-slot')
    .description('drop the replication slot and its snapshot marker (the same as reset-slot)')
    .option('--yes', 'do not ask for confirmation (for scripts)')
    .addHelpText('after', slotHelp)
    .action(async (opts: { yes?: boolean }) => {
      await ctx.run('cdc drop-slot', () => dropSlot(ctx.config(), opts.yes));
    });
  cdc
    .command('drop-publication')
    .description('drop CDC_PUBLICATION as POSTGRES_USER, its owner (asks first); npm run db:migrate creates it again')
    .option('--yes', 'do not ask for confirmation (for scripts)')
    .action(async (opts: { yes?: boolean }) => {
      await ctx.run('cdc drop-publication', () => dropPublication(ctx.config(), opts.yes));
    });
}
