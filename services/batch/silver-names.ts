/**
 * Names of silver tables: `<source>__<schema>__<table>`, from the source namespace (the CDC topic
 * prefix, `source.name` of the events), the PostgreSQL schema and the table, e.g.
 * `sport.public.activities` -> `silver.sport__public__activities`. Two sources, or two schemas of
 * one source, never share a silver table, and nothing is matched by bare table name.
 *
 * Injective, and typed without quotes for ordinary names: a part made of lower-case letters,
 * digits and single underscores, not starting or ending with one (`public`, `order_items`,
 * `shop2`), is written as is. Any other part (upper case, `-`, `.`, a double or edge underscore,
 * non-ASCII) is written `_` followed by its characters where each one outside `[a-wyz0-9]`
 * becomes `x` and four hex digits of its UTF-16 code unit: `Customer` -> `_x0043ustomer`,
 * `shop-db` -> `_shopx002ddb`. A plain part never starts with `_`, an escaped one never contains
 * `_` after its first character, and neither ends with `_`, so the name splits back into its three
 * parts in one way only ({@link parseSilverName}); DuckDB's case-insensitive identifiers cannot
 * merge two names either, since every name is lower case.
 */

const PLAIN = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;

/** One part of a silver name (see the module comment). */
export function encodeNamePart(part: string): string {
  if (PLAIN.test(part)) return part;
  let out = '_';
  for (let i = 0; i < part.length; i++) {
    const ch = part[i]!;
    out += /[a-wyz0-9]/.test(ch) ? ch : `x${part.charCodeAt(i).toString(16).padStart(4, '0')}`;
  }
  return out;
}

/** Inverse of {@link encodeNamePart}. @throws on text no part encodes to. */
export function decodeNamePart(encoded: string): string {
  if (!encoded.startsWith('_')) {
    if (!PLAIN.test(encoded)) throw new Error(`not a silver name part: ${encoded}`);
    return encoded;
  }
  let out = '';
  for (let i = 1; i < encoded.length; ) {
    const ch = encoded[i]!;
    if (ch === 'x') {
      const hex = encoded.slice(i + 1, i + 5);
      if (!/^[0-9a-f]{4}$/.test(hex)) throw new Error(`not a silver name part: ${encoded}`);
      out += String.fromCharCode(parseInt(hex, 16));
      i += 5;
    } else if (/[a-wyz0-9]/.test(ch)) {
      out += ch;
      i++;
    } else {
      throw new Error(`not a silver name part: ${encoded}`);
    }
  }
  return out;
}

/** A source table's identity: namespace (topic prefix), PostgreSQL schema and table. */
export interface SourceName {
  source: string;
  schema: string;
  table: string;
}

/** The silver table name of a source table, e.g. `sport__public__activities`. */
export function silverName(name: SourceName): string {
  return [name.source, name.schema, name.table].map(encodeNamePart).join('__');
}

/** Inverse of {@link silverName}. @throws on a name silverName does not produce. */
export function parseSilverName(name: string): SourceName {
  // Separators are the `__` not preceded by `_` (no part ends with `_`) and not inside an escaped part.
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < name.length - 1; i++) {
    if (name[i] === '_' && name[i + 1] === '_' && i > start && name[i - 1] !== '_') {
      parts.push(name.slice(start, i));
      start = i + 2;
      i++;
    }
  }
  parts.push(name.slice(start));
  if (parts.length !== 3) throw new Error(`not a silver table name: ${name}`);
  const [source, schema, table] = parts.map(decodeNamePart) as [string, string, string];
  return { source, schema, table };
}

/**
 * Splits a CDC topic `<prefix>.<schema>.<table>` (docs/contracts/change-events.md, "Topics"); the
 * prefix may itself contain dots. Only for topics whose schema document is missing: the document's
 * `source` is authoritative.
 * @returns undefined for a name with fewer than three dot-separated parts or a dead-letter topic.
 */
export function parseTopic(topic: string): SourceName | undefined {
  if (topic.endsWith('.dlq')) return undefined;
  const parts = topic.split('.');
  if (parts.length < 3 || parts.some((p) => p === '')) return undefined;
  const table = parts.pop()!;
  const schema = parts.pop()!;
  return { source: parts.join('.'), schema, table };
}
