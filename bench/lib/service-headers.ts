/**
 * The headers the CDC service puts on every event (services/cdc/change-mapper.ts), for benchmarks
 * that produce events of their own: Debezium's context headers
 * ({@link debeziumContextHeaders}) unless `extended` is false (CDC_EXTENDED_HEADERS=false), and the
 * schema link's `lakehouse.schema.id` (issue 13; a well-formed id). One frozen object, shared by
 * every message, as the mapper shares one per table.
 */
import { debeziumContextHeaders } from '../../services/common/contracts/change-event.ts';
import { SCHEMA_ID_HEADER } from '../../services/common/contracts/table-schema.ts';

export function cdcServiceHeaders(topicPrefix: string, extended = true): Readonly<Record<string, string>> {
  const context = extended ? debeziumContextHeaders(topicPrefix, '3f2b8a50-6c1d-4e8e-9a51-0d2f4b7c9e11') : {};
  return Object.freeze({ ...context, [SCHEMA_ID_HEADER]: '0123456789abcdef0123' });
}
