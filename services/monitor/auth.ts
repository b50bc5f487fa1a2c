/**
 * Who may read the monitor (docs/security.md, "The monitor"): every route but the probes
 * (`/healthz`, `/livez`) needs MONITOR_TOKEN, given either way HTTP clients know:
 * - `Authorization: Bearer <token>` (Prometheus `authorization.credentials_file`, curl `-H`,
 *   scripts);
 * - `Authorization: Basic <base64(user:token)>`: HTTP basic authentication with the token as the
 *   password and any user name, so a browser asks for it once and then sends it with every
 *   request of the dashboard (Prometheus `basic_auth` works too).
 * A request without them, or with another token, gets 401 with a `WWW-Authenticate: Basic`
 * challenge (RFC 7617) and no data. Tokens are compared in constant time (SHA-256 digests and
 * timingSafeEqual), so the time an answer takes does not tell how much of a guess was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Routes answered without the token: container and load-balancer probes, which reveal nothing personal. */
export const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/livez']);

/** The challenge sent with a 401 (RFC 7617), so a browser prompts for the credentials. */
export const AUTH_CHALLENGE = 'Basic realm="sport-lakehouse monitor", charset="UTF-8"';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * The secret an `Authorization` header presents (pure): the bearer token, or the password of
 * basic credentials; undefined when the header is missing or of another scheme.
 */
export function presentedSecret(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (!match) return undefined;
  const [, scheme, value] = match as unknown as [string, string, string];
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/**
 * True when `header` carries `token` (pure, constant time in the token's content).
 * @param header the request's `Authorization` header.
 * @param token MONITOR_TOKEN.
 */
export function isAuthorized(header: string | undefined, token: string): boolean {
  const secret = presentedSecret(header);
  if (secret === undefined) return false;
  return timingSafeEqual(digest(secret), digest(token));
}
