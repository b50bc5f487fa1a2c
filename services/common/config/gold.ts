/**
 * Configuration of gold served from PostgreSQL (services/batch/pg-publish.ts, docs/powerbi.md) and
 * of the orchestrated refresh (`npm run refresh -- --watch`, services/batch/watch.ts).
 */
import { z } from 'zod';
import { defineBlock, variable } from './define.ts';
import { bool, failIf, roleBlock, secondsToMs, sqlIdentifier } from './shared.ts';

/** The batch's gold publisher: CREATE on the analytics database only (schemas/postgres/analytics). */
export const pgPublisherRoleBlock = roleBlock('publisher', 'GOLD_PUBLISHER_DB', 'gold_publisher', 'publisher-local-only', 'the batch publishing gold into GOLD_PG_DATABASE (CREATE there, nothing else)');
/** BI tools (Power BI): read-only, the gold views of the analytics database only. */
export const pgBiReaderRoleBlock = roleBlock('biReader', 'BI_READER_DB', 'bi_reader', 'bi-reader-local-only', 'BI tools such as Power BI (read-only: the gold views of GOLD_PG_DATABASE)');

/** Where each successful refresh publishes gold in PostgreSQL. */
export const goldPgBlock = defineBlock({
  title: 'Gold served from PostgreSQL for BI tools (docs/powerbi.md)',
  fields: {
    goldPg: {
      enabled: variable('GOLD_PG_ENABLED', bool.default(true), 'true: each successful refresh publishes gold into GOLD_PG_DATABASE (atomically); false: gold.duckdb and gold Parquet only.'),
      database: variable('GOLD_PG_DATABASE', sqlIdentifier.default('analytics'), 'Analytics database on POSTGRES_HOST, dedicated to BI readers (created by `npm run db:migrate`); never the source database.'),
      schema: variable('GOLD_PG_SCHEMA', sqlIdentifier.default('gold'), 'Schema of the views BI tools read; <schema>_store holds the rows (not readable by the BI role).'),
    },
  },
});

/** The orchestrated refresh: triggers, debounce, schedule, retries, completeness checkpoints. */
export const refreshWatchBlock = defineBlock({
  title: 'Orchestrated refresh (`npm run refresh -- --watch`)',
  fields: {
    refresh: {
      minIntervalMs: variable('REFRESH_MIN_INTERVAL_S', z.coerce.number().min(0).max(86_400).default(30).transform(secondsToMs), 'Incremental runs start at most this often (debounce of new bronze objects), seconds.'),
      pollIntervalMs: variable('REFRESH_POLL_INTERVAL_S', z.coerce.number().min(0.1).max(3600).default(2).transform(secondsToMs), "How often the bronze writer group's committed offsets are read to notice new bronze objects, seconds."),
      fullCron: variable('REFRESH_FULL_CRON', z.string().trim().default('0 3 * * *'), 'Schedule of the full refresh (cron expression, croner syntax: 5 or 6 fields); off = none.'),
      cronTimezone: variable('REFRESH_CRON_TIMEZONE', z.string().trim().min(1).default('UTC'), 'IANA time zone of REFRESH_FULL_CRON, e.g. Europe/Paris.'),
      retryMinMs: variable('REFRESH_RETRY_MIN_BACKOFF_S', z.coerce.number().min(0).max(3600).default(5).transform(secondsToMs), 'A failed run is retried after this many seconds, doubling each time...'),
      retryMaxMs: variable('REFRESH_RETRY_MAX_BACKOFF_S', z.coerce.number().min(0).max(86_400).default(300).transform(secondsToMs), '...up to this many seconds between attempts.'),
      watermarkIntervalMs: variable(
        'REFRESH_WATERMARK_INTERVAL_S',
        z.coerce.number().min(0).max(86_400).default(300).transform(secondsToMs),
        'With no new bronze objects, a run still starts this often to move the completeness watermark (0 = never), seconds.',
      ),
      checkpointTimeoutMs: variable('REFRESH_CHECKPOINT_TIMEOUT_S', z.coerce.number().min(0).max(3600).default(10).transform(secondsToMs), 'How long a completeness checkpoint waits for the CDC slot to confirm the WAL position it read, seconds.'),
    },
  },
  finish: (c) => {
    failIf([c.refresh.retryMinMs > c.refresh.retryMaxMs && 'REFRESH_RETRY_MIN_BACKOFF_S: must not exceed REFRESH_RETRY_MAX_BACKOFF_S']);
    return c;
  },
});
