/** Configuration of the CDC service (services/cdc/README.md): PostgreSQL logical replication -> Kafka. */
import { z } from 'zod';
import { defineBlock, variable } from './define.ts';
import { bool, commaList, httpListenerVariables, secondsToMs } from './shared.ts';

/** The replication slot: the CDC service owns it; the monitor and `lakehouse status` watch its lag. */
export const cdcSlotBlock = defineBlock({
  title: 'CDC replication slot',
  fields: {
    cdc: {
      // 46 = 63 (NAMEDATALEN - 1) minus the "_snapshot_pending" suffix of the snapshot marker slot.
      slotName: variable('CDC_SLOT_NAME', z.string().regex(/^[a-z0-9_]{1,46}$/, 'expected 1-46 lower-case letters, digits or "_"').default('sport_cdc_slot'), 'Logical replication slot (pgoutput) of the CDC service; 1-46 characters [a-z0-9_].'),
    },
  },
});

/** The CDC service's HTTP listener (/metrics, /healthz); the monitor scrapes it. */
export const CDC_METRICS = httpListenerVariables('CDC_METRICS', 9464, "the CDC service's /metrics and /healthz");

const tableList = commaList(z.string().regex(/^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/, 'expected comma-separated [schema.]table names (lower-case SQL identifiers)')).pipe(
  z.array(z.string()).min(1, 'expected at least one table'),
);

export const cdcBlock = defineBlock({
  title: 'CDC service (`npm run cdc`): PostgreSQL logical replication -> Kafka',
  fields: {
    cdc: {
      tables: variable(
        'CDC_TABLES',
        tableList
          .default(['public.employees', 'public.declared_sports', 'public.activities', 'public.commute_distances'])
          .transform((list) =>
            list.map((t) => {
              const [schema, table] = t.includes('.') ? t.split('.') : ['public', t];
              return { schema: schema!, table: table! };
            }),
          ),
        'Captured tables, comma-separated [schema.]table (a bare name means public).',
      ),
      snapshotMode: variable('CDC_SNAPSHOT_MODE', z.enum(['initial', 'never']).default('initial'), 'initial: snapshot (op "r") when the slot is new; never: stream only.'),
      snapshotChunkRows: variable('CDC_SNAPSHOT_CHUNK_ROWS', z.coerce.number().int().min(1).max(1_000_000).default(10_000), 'Rows fetched per snapshot round trip (progress is logged per chunk).'),
      incrementalChunkRows: variable(
        'CDC_INCREMENTAL_CHUNK_ROWS',
        z.coerce.number().int().min(1).max(1_000_000).default(4_096),
        'Rows per incremental snapshot chunk (one watermark window; `npm run lakehouse -- snapshot --chunk-rows` overrides it per request).',
      ),
      adminSetup: variable(
        'CDC_ADMIN_SETUP',
        bool.default(true),
        'true: create/alter CDC_PUBLICATION and grant SELECT as POSTGRES_USER when needed; false: the publication must already cover CDC_TABLES (the service says what to run).',
      ),
      metricsHost: CDC_METRICS.host,
      metricsPort: CDC_METRICS.port,
      retryMaxBackoffMs: variable(
        'CDC_RETRY_MAX_BACKOFF_S',
        z.coerce.number().min(0.1).max(3600).default(30).transform(secondsToMs),
        'Seconds: the reconnection backoff after a PostgreSQL or broker failure is capped at this.',
      ),
      heartbeatIntervalMs: variable('CDC_HEARTBEAT_INTERVAL_S', z.coerce.number().positive().max(3600).default(10).transform(secondsToMs), 'Seconds: standby status sent at least this often, and keepalives answered, so an idle slot keeps advancing.'),
      batchMaxEvents: variable('CDC_BATCH_MAX_EVENTS', z.coerce.number().int().min(1).max(1_000_000).default(2_000), 'Events per produce request.'),
      lingerMs: variable('CDC_LINGER_MS', z.coerce.number().int().min(0).max(10_000).default(2), 'Milliseconds to wait for more events before a produce request.'),
      compression: variable('CDC_COMPRESSION', z.enum(['none', 'gzip']).default('none'), 'Produce compression: none | gzip.'),
      maxInFlight: variable('CDC_MAX_IN_FLIGHT', z.coerce.number().int().min(1).max(5).default(5), "Produce batches outstanding at once (1-5; Kafka's limit with the idempotent producer)."),
      maxPendingEvents: variable('CDC_MAX_PENDING_EVENTS', z.coerce.number().int().min(100).max(10_000_000).default(4_000), "Replication pauses while this many events await the broker's acknowledgement."),
      intervalHandling: variable(
        'CDC_INTERVAL_HANDLING',
        z.enum(['iso8601', 'numeric']).default('iso8601'),
        "interval rendering: iso8601 (Debezium's interval.handling.mode=string, lossless) or numeric (Debezium's default: microseconds with 30.4375-day months); recorded in every schema document.",
      ),
      extendedHeaders: variable('CDC_EXTENDED_HEADERS', bool.default(true), "Debezium's `__debezium.context.*` headers on every record (extended.headers.enabled): true|false."),
      skippedOperations: variable(
        'CDC_SKIPPED_OPERATIONS',
        commaList(z.enum(['c', 'u', 'd', 't', 'none']))
          .refine((ops) => !ops.includes('none') || ops.length === 1, '"none" cannot be combined with ops')
          .transform((ops) => ops.filter((o): o is 'c' | 'u' | 'd' | 't' => o !== 'none'))
          .default([]),
        "Ops whose changes produce no event, comma-separated c,u,d,t, or none (Debezium's skipped.operations).",
      ),
      maxMessageBytes: variable('CDC_MAX_MESSAGE_BYTES', z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(1_000_000), 'A larger event goes to <topic>.dlq with a reason instead of the topic.'),
    },
  },
});
