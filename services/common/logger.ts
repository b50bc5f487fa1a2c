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
