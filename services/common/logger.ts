/**
 * Structured JSON logging (pino) with secrets redacted.
 *
 * Every service logs through {@link createLogger}. Fields that can hold a secret (passwords,
 * keys, tokens, webhook URLs) are replaced by "[redacted]" wherever they appear up to two levels
 * deep, and {@link redactUrl} masks the password part of a connection string before it is
 * logged or printed.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const SECRET_FIELDS = [
  'password',
  'secret',
  'secretAccessKey',
  'accessKeyId',
  'apiKey',
  'token',
  'webhookUrl',
  'authorization',
  'connectionString',
];

const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

/** Most distinct causes the log line of an aggregated error lists. */
const MAX_CAUSES = 10;

/**
 * pino's error serializer, except for an error that aggregates others (AggregateError, the Kafka
 * client's MultipleErrors: one per retry, each aggregating the brokers tried): instead of the whole
 * tree of nested errors and stacks (30 KB for one failed group join), the distinct messages of its
 * innermost errors, at most {@link MAX_CAUSES}, as `causes`.
 */
export function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  const nested = (err as { errors?: unknown } | null)?.errors;
  if (!out || typeof out !== 'object' || !Array.isArray(nested)) return out;
  const fields = out as Record<string, unknown>;
  delete fields.aggregateErrors;
  delete fields.errors;
  const causes = new Set<string>();
  const walk = (e: unknown, depth: number): void => {
    if (causes.size >= MAX_CAUSES) return;
    const inner = (e as { errors?: unknown } | null)?.errors;
    if (Array.isArray(inner) && inner.length > 0 && depth < 8) for (const c of inner) walk(c, depth + 1);
    else causes.add(e instanceof Error ? e.message : String(e));
  };
  walk(err, 0);
  fields.causes = [...causes];
  return fields;
}

/**
 * A pino logger named after its component.
 * @param name component name, e.g. "cdc" or "bronze-writer"; appears as `service` in each line.
 * @param level pino level; defaults to LOG_LEVEL or "info".
 * @param destination where lines go; stdout by default.
 */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    base: { service: name, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Masks the password of a URL-shaped connection string:
 * `postgres://cdc:s3cret@db:5432/sport` becomes `postgres://cdc:***@db:5432/sport`.
 * Query parameters named like secrets (password, token, key, secret) are masked too.
 * Input that is not a URL is returned unchanged.
 */
export function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  if (url.password) url.password = '***';
  for (const key of [...url.searchParams.keys()]) {
    if (/pass|token|key|secret|signature/i.test(key)) url.searchParams.set(key, '***');
  }
  // Slack webhook paths are themselves the secret.
  if (/hooks\.slack\.com$/i.test(url.hostname)) url.pathname = '/services/***';
  return url.toString();
}
