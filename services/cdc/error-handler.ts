/**
 * Which failures the CDC service rides out and which stop it (Debezium's ErrorHandler and
 * PostgresErrorHandler: a retriable error restarts the connector's sources, any other stops it).
 *
 * Retriable (the service reconnects with capped backoff and resumes from the confirmed LSN):
 * - a server that is down, restarting or unreachable: socket errors (ECONNREFUSED, ECONNRESET,
 *   ETIMEDOUT, EPIPE, ...), node-postgres' "Connection terminated", PostgreSQL's SQLSTATE classes
 *   08 (connection exception), 53 (insufficient resources: too many connections), 57P01-57P03
 *   (administrator/crash shutdown, cannot connect now) and 55006 (the slot is still held by the
 *   walsender of a connection that is going away), a replication stream that ended;
 * - anything the Kafka client (@platformatic/kafka; kafkajs error shapes are still recognised)
 *   reports while producing or probing the broker, or a network error of it, unless it is one of
 *   the permanent broker errors in {@link PERMANENT_KAFKA_ERRORS} (authorization, a record the
 *   broker will never take): an outage, a leader election, a broker that forgot the producer id all
 *   heal once a new producer connects.
 * Not retriable: configuration and setup errors (CdcSetupError: the message says what to fix),
 * unless caused by one of the above; undecodable replication messages and protocol violations
 * (retrying reads the same WAL again), PostgreSQL errors of any other SQLSTATE (privileges,
 * missing objects), anything else.
 *
 * Pure.
 */

/** Where a failure came from. */
export type FailureComponent = 'postgres' | 'kafka' | 'service';

export interface FailureVerdict {
  retriable: boolean;
  component: FailureComponent;
  /** One line for the log: the innermost useful message. */
  reason: string;
}

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED', 'ENOTCONN', 'ESOCKETTIMEDOUT']);

/** SQLSTATEs (exact or class prefix) of a server that is unavailable for now. */
const TRANSIENT_SQLSTATE = [/^08/, /^53/, /^57P0[123]$/, /^55006$/];

/** Broker error types (Kafka protocol error names) that no retry can fix. */
export const PERMANENT_KAFKA_ERRORS = new Set([
  'TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED', 'UNSUPPORTED_SASL_MECHANISM', 'ILLEGAL_SASL_STATE', 'UNSUPPORTED_VERSION', 'INVALID_REQUIRED_ACKS',
  'INVALID_RECORD', 'CORRUPT_MESSAGE', 'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_TOPIC_EXCEPTION', 'POLICY_VIOLATION',
]);

const POSTGRES_TRANSIENT_MESSAGE = /Connection terminated|not queryable|connection timeout|timeout expired|the database system is (starting up|shutting down|in recovery|not yet accepting connections)|terminating connection due to administrator command|server closed the connection|replication stream ended unexpectedly|Client has encountered a connection error/i;

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  type?: unknown;
  apiId?: unknown;
  retriable?: unknown;
  canRetry?: unknown;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown;
}

/** The error and its causes, outermost first (cause, originalError, AggregateError members). */
export function errorChain(err: unknown, limit = 10): ErrorLike[] {
  const out: ErrorLike[] = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < limit) {
    const e = queue.shift();
    if (!e || typeof e !== 'object' || out.includes(e as ErrorLike)) continue;
    const x = e as ErrorLike;
    out.push(x);
    if (x.cause) queue.push(x.cause);
    if (x.originalError) queue.push(x.originalError);
    if (Array.isArray(x.errors)) queue.push(...(x.errors as unknown[]));
  }
  return out;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The broker's error name: kafkajs' `type`, @platformatic/kafka's `apiId`. */
const brokerErrorName = (e: ErrorLike) => str(e.type) || str(e.apiId);

/**
 * Classifies a failure.
 * @param origin where it was caught: `kafka` for the producer and the broker probe, `postgres` for
 *   the replication connection and catalog queries, `service` when unknown (set-up, processing).
 */
export function classifyFailure(err: unknown, origin: FailureComponent = 'service'): FailureVerdict {
  const chain = errorChain(err);
  const reason = chain.map((e) => str(e.message)).filter(Boolean).pop() ?? String(err);
  const verdict = classifyChain(chain, origin, reason);
  // A setup error is fatal (its message says what to fix) unless its cause is an outage.
  if (!verdict.retriable && chain.some((e) => str(e.name) === 'CdcSetupError')) return { retriable: false, component: 'service', reason: str(chain[0]!.message) || reason };
  return verdict;
}

function classifyChain(chain: ErrorLike[], origin: FailureComponent, reason: string): FailureVerdict {

  const kafkaish = origin === 'kafka' || chain.some((e) => str(e.name).startsWith('KafkaJS') || str(e.code).startsWith('PLT_KFK_'));
  if (kafkaish) {
    const permanent = chain.find((e) => PERMANENT_KAFKA_ERRORS.has(brokerErrorName(e)));
    if (permanent) return { retriable: false, component: 'kafka', reason: `${brokerErrorName(permanent)}: ${reason}` };
    if (origin === 'kafka' || chain.some((e) => e.retriable === true || e.canRetry === true || SOCKET_CODES.has(str(e.code)) || str(e.code) === 'PLT_KFK_NETWORK' || str(e.code) === 'PLT_KFK_TIMEOUT' || /Connection|ECONNREFUSED|timeout|broker/i.test(str(e.message)))) {
      return { retriable: true, component: 'kafka', reason };
    }
  }

  for (const e of chain) {
    const code = str(e.code);
    if (/^[0-9A-Z]{5}$/.test(code)) {
      // A PostgreSQL SQLSTATE.
      return { retriable: TRANSIENT_SQLSTATE.some((re) => re.test(code)), component: 'postgres', reason: `${code}: ${reason}` };
    }
  }
  if (chain.some((e) => SOCKET_CODES.has(str(e.code)))) return { retriable: true, component: origin === 'service' ? 'postgres' : origin, reason };
  if (chain.some((e) => POSTGRES_TRANSIENT_MESSAGE.test(str(e.message)))) return { retriable: true, component: 'postgres', reason };
  return { retriable: false, component: origin, reason };
}
