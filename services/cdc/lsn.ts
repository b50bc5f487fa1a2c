/**
 * PostgreSQL log sequence numbers (LSN).
 *
 * PostgreSQL prints an LSN as two hexadecimal 32-bit halves, `16/B374D848`; the change-event
 * contract carries it as one 64-bit integer (Debezium's `source.lsn`). Inside the service an LSN is
 * a `bigint`, so comparisons and arithmetic stay exact past 2^53.
 */

/**
 * Parses PostgreSQL's text form.
 * @param text e.g. `"0/19535E0"` (case-insensitive, halves of 1 to 8 hex digits).
 * @returns the LSN as an unsigned 64-bit bigint.
 * @throws Error when the text is not `<hex>/<hex>`.
 */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/**
 * Formats an LSN the way PostgreSQL prints it.
 * @param lsn unsigned 64-bit value.
 * @returns e.g. `"0/19535E0"` (upper-case hex, no padding, as `pg_current_wal_lsn()` shows it).
 */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
