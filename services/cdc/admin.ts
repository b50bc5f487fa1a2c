/**
 * `npm run cdc:admin -- <command>`: operator commands for the CDC service's PostgreSQL objects.
 *
 * - `status`: the slot (and snapshot marker), its confirmed LSN and lag in bytes, the publication
 *   and its tables.
 * - `drop-slot`: drops the replication slot and the snapshot marker slot (as the CDC role). The
 *   next `npm run cdc` creates a new slot and takes a new initial snapshot. Refused while the
 *   service holds the slot. Idempotent.
 * - `drop-publication`: drops CDC_PUBLICATION (as POSTGRES_USER, the owner; the CDC role cannot).
 *   Idempotent. `npm run db:migrate` or the service (CDC_ADMIN_SETUP=true) creates it again.
 *
 * Dropping the slot releases the WAL it retains; changes made while no slot exists are only
 * seen through the next snapshot.
 */
import { Command } from 'commander';
import pg from 'pg';
import { loadConfigOrExit, pgConnection, type Config } from '../common/config.ts';
import { formatLsn } from './lsn.ts';
import { cdcConnection, dropSlotIfExists, readSlot, snapshotMarkerSlot } from './postgres-setup.ts';

function config(): Config {
  return loadConfigOrExit('cdc:admin');
}

async function withClient<T>(settings: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(settings);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const program = new Command('cdc:admin').description('Operator commands for the CDC replication slot and publication');

program
  .command('status')
  .description('show the slot, its confirmed LSN and lag, and the publication')
  .action(async () => {
    const c = config();
    await withClient(cdcConnection(c), async (db) => {
      for (const name of [c.cdc.slotName, snapshotMarkerSlot(c.cdc.slotName)]) {
        const slot = await readSlot(db, name);
        if (!slot) {
          console.log(`slot ${name}: absent`);
          continue;
        }
        const lag = await db.query<{ lag: string | null }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1', [name]);
        console.log(`slot ${name}: ${slot.slotType} ${slot.plugin ?? ''} active=${slot.active}${slot.activePid ? ` pid=${slot.activePid}` : ''}` +
          (slot.confirmedFlushLsn !== null ? ` confirmed_flush_lsn=${formatLsn(slot.confirmedFlushLsn)} lag_bytes=${lag.rows[0]?.lag ?? '?'}` : ''));
      }
      const pub = await db.query<{ name: string }>('SELECT schemaname || \'.\' || tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1', [c.postgres.publication]);
      const exists = await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [c.postgres.publication]);
      console.log(exists.rowCount ? `publication ${c.postgres.publication}: ${pub.rows.map((r) => r.name).join(', ') || '(no tables)'}` : `publication ${c.postgres.publication}: absent`);
    });
  });

program
  .command('drop-slot')
  .description('drop the replication slot and its snapshot marker (the next start snapshots again)')
  .action(async () => {
    const c = config();
    await withClient(cdcConnection(c), async (db) => {
      for (const name of [c.cdc.slotName, snapshotMarkerSlot(c.cdc.slotName)]) {
        console.log((await dropSlotIfExists(db, name)) ? `dropped slot ${name}` : `slot ${name} absent`);
      }
    });
  });

program
  .command('drop-publication')
  .description('drop CDC_PUBLICATION (as POSTGRES_USER, its owner)')
  .action(async () => {
    const c = config();
    await withClient(pgConnection(c, 'admin'), async (db) => {
      await db.query(`DROP PUBLICATION IF EXISTS "${c.postgres.publication.replace(/"/g, '""')}"`);
      console.log(`publication ${c.postgres.publication} dropped (or absent)`);
    });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`cdc:admin: ${(err as Error).message}`);
  process.exit(1);
}
