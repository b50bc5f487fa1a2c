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
  // Called for every replicated message: the common form is parsed without a regular expression.
  const slash = text.indexOf('/');
  if (slash >= 1 && slash <= 8 && text.length - slash - 1 >= 1 && text.length - slash - 1 <= 8) {
    const high = parseHex32(text, 0, slash);
    const low = parseHex32(text, slash + 1, text.length);
    if (high >= 0 && low >= 0) return high < 0x200000 ? BigInt(high * 0x1_0000_0000 + low) : (BigInt(high) << 32n) | BigInt(low);
  }
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Value of `text[start, end)` as hexadecimal (at most 8 digits), or -1 when a character is not a hex digit. */
function parseHex32(text: string, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x37;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Formats an LSN the way PostgreSQL prints it.
 * @param lsn unsigned 64-bit value.
 * @returns e.g. `"0/19535E0"` (upper-case hex, no padding, as `pg_current_wal_lsn()` shows it).
 */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
