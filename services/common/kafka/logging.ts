/**
 * The one mapping of Kafka client events into the service's pino logger (child
 * `{ component: 'kafka' }`). @platformatic/kafka writes no log of its own (only `debug` output
 * under DEBUG=plt:kafka:*); it emits events, which are mapped here:
 *
 * | event | level | why |
 * |---|---|---|
 * | `error` | error | a failure the client could not retry (e.g. a consumer's heartbeat gave up) |
 * | `client:performWithRetry:failed` | warn | an operation failed after its retries; the caller gets the error too |
 * | `client:performWithRetry:retry` | debug, warn from the 5th attempt | transient failures (leader moves, coordinator loading) are normal |
 * | `client:broker:failed` | warn | a broker connection could not be opened |
 * | `client:broker:disconnect` | debug | connections close when idle or on shutdown |
 * | `consumer:group:join` | info | the group generation and this member's partitions |
 * | `consumer:group:leave`, `consumer:group:rebalance`, `consumer:rejoin` | info | membership changes |
 * | `consumer:heartbeat:error` | warn | the coordinator refused a heartbeat (usually a rebalance) |
 *
 * Attaching an `error` listener also keeps an unhandled `error` event from throwing out of the
 * event loop: the service decides what a failed client means (see the consumer's callers).
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../logger.ts';

/** The innermost cause of a Kafka error (the library nests `errors` of aggregates and `cause`s), e.g. the socket's ECONNREFUSED. */
function rootCause(error: unknown): unknown {
  let e = error as { errors?: unknown[]; cause?: unknown } | undefined;
  for (let depth = 0; depth < 10 && e && typeof e === 'object'; depth++) {
    const next = Array.isArray(e.errors) && e.errors.length > 0 ? e.errors[0] : e.cause;
    if (!next) break;
    e = next as typeof e;
  }
  return e;
}

/** True when `error` or one of its nested errors asks the consumer to rejoin its group (the client then does). */
function asksForRejoin(error: unknown): boolean {
  const seen: unknown[] = [error];
  for (let i = 0; i < seen.length && i < 50; i++) {
    const e = seen[i] as { needsRejoin?: boolean; errors?: unknown[]; cause?: unknown } | undefined;
    if (!e || typeof e !== 'object') continue;
    if (e.needsRejoin === true) return true;
    if (Array.isArray(e.errors)) seen.push(...e.errors);
    if (e.cause) seen.push(e.cause);
  }
  return false;
}

/**
 * True when `error` is the client's own connection pool having been closed under an operation in
 * flight: a fetch still pending when its consumer stream is closed (the ordered consumer closes
 * its stream to read again after a handler failure, and on stop). Not a failure of the broker.
 */
function closedUnderUs(error: unknown): boolean {
  const e = error as { message?: unknown } | undefined;
  return typeof e?.message === 'string' && e.message === 'Connection pool is closed.';
}

/**
 * One line for a Kafka error: the operation that failed and its innermost cause, e.g.
 * `Listing topics failed: connect ECONNREFUSED 127.0.0.1:9092` (the library's own message of an
 * aggregate names only the operation).
 */
export function kafkaErrorMessage(error: unknown): string {
  const top = error instanceof Error ? error.message : String(error);
  const root = rootCause(error);
  const leaf = root instanceof Error ? root.message : undefined;
  if (!leaf || leaf === top) return top;
  return top ? `${top.replace(/\.$/, '')}: ${leaf}` : leaf;
}

/** A Kafka error's loggable fields (the library's errors carry a code and, for groups of errors, `errors`). */
export function kafkaErrorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error };
  const e = error as Error & { code?: string; errors?: unknown[]; apiCode?: number; canRetry?: boolean };
  return {
    err: { type: e.name, message: kafkaErrorMessage(e), code: e.code, apiCode: e.apiCode, canRetry: e.canRetry },
    ...(Array.isArray(e.errors) && e.errors.length > 0 ? { causes: e.errors.slice(0, 5).map((c) => (c instanceof Error ? c.message : String(c))) } : {}),
  };
}

/** Topic -> partitions of a join event's assignment (the library gives `{ topic, partitions }[]`). */
function assignmentFields(assignments: unknown): Record<string, number[]> | undefined {
  if (!Array.isArray(assignments)) return undefined;
  const out: Record<string, number[]> = {};
  for (const a of assignments as { topic?: string; partitions?: number[] }[]) if (a.topic) out[a.topic] = [...(a.partitions ?? [])].sort((x, y) => x - y);
  return out;
}

/**
 * Logs `client`'s events through `logger` (see the module table). Returns `client`.
 * Safe to call once per client; every factory in client.ts does.
 */
export function attachKafkaLogging<C extends EventEmitter>(client: C, logger: Logger): C {
  const log = logger.child({ component: 'kafka' });
  client.on('error', (error: unknown) => log.error(kafkaErrorFields(error), 'kafka client error'));
  client.on('client:performWithRetry:failed', (operationId: unknown, retries: unknown, errors: unknown) => {
    const last = Array.isArray(errors) ? errors.at(-1) : errors;
    // A group's first JoinGroup is answered MEMBER_ID_REQUIRED by design (KIP-394): the consumer
    // joins again with the id it was given. Any error asking for a rejoin is handled that way.
    // A fetch cut by our own close of the stream is expected too.
    const level = asksForRejoin(last) || closedUnderUs(last) ? 'debug' : 'warn';
    log[level]({ operationId: String(operationId), retries, ...kafkaErrorFields(last) }, 'kafka operation failed after retries');
  });
  client.on('client:performWithRetry:retry', (operationId: unknown, attempt: number, retries: unknown, delay: unknown) => {
    const level = attempt >= 4 ? 'warn' : 'debug';
    log[level]({ operationId: String(operationId), attempt: attempt + 1, retries, delayMs: delay }, 'kafka operation retried');
  });
  client.on('client:broker:failed', (payload: { broker?: unknown; error?: unknown }) => log.warn({ broker: payload?.broker, ...kafkaErrorFields(payload?.error) }, 'kafka broker connection failed'));
  client.on('client:broker:disconnect', (payload: { broker?: unknown }) => log.debug({ broker: payload?.broker }, 'kafka broker disconnected'));
  client.on('consumer:group:join', (payload: { groupId?: string; memberId?: string; generationId?: number; isLeader?: boolean; assignments?: unknown }) =>
    log.info(
      { groupId: payload?.groupId, memberId: payload?.memberId, generationId: payload?.generationId, leader: payload?.isLeader, assignment: assignmentFields(payload?.assignments) },
      'kafka consumer joined the group',
    ),
  );
  client.on('consumer:group:leave', (payload: { groupId?: string; memberId?: string }) => log.info({ groupId: payload?.groupId, memberId: payload?.memberId }, 'kafka consumer left the group'));
  client.on('consumer:group:rebalance', (payload: { groupId?: string }) => log.info({ groupId: payload?.groupId }, 'kafka consumer group rebalancing'));
  client.on('consumer:rejoin', () => log.info('kafka consumer rejoining the group'));
  client.on('consumer:heartbeat:error', (payload: { error?: unknown }) => log.warn(kafkaErrorFields(payload?.error), 'kafka heartbeat refused'));
  return client;
}
