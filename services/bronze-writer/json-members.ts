/**
 * Raw text of the top-level members of a JSON object. Pure: no I/O.
 *
 * Bronze keeps the `before`/`after` row images exactly as the CDC service wrote them: re-encoding
 * a parsed object would round 64-bit integers above 2^53 and could reorder or re-escape
 * characters. The caller validates the text with JSON.parse first; this scanner only finds
 * member boundaries, so it assumes well-formed input.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Index of the first non-whitespace character at or after `i`. */
function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Index just past the closing quote of the string starting at `start` (which is a quote). */
function skipString(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) throw new SyntaxError('unterminated string');
    let backslashes = 0;
    for (let j = q - 1; j > start && text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/** Index just past the value starting at `start`. */
function skipValue(text: string, start: number): number {
  const c = text.charCodeAt(start);
  if (c === QUOTE) return skipString(text, start);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    let i = start;
    while (i < text.length) {
      const ch = text.charCodeAt(i);
      if (ch === QUOTE) {
        i = skipString(text, i);
        continue;
      }
      if (ch === OPEN_BRACE || ch === OPEN_BRACKET) depth++;
      else if (ch === CLOSE_BRACE || ch === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new SyntaxError('unterminated object or array');
  }
  // number, true, false, null: runs until a delimiter
  let i = start;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === COMMA || ch === CLOSE_BRACE || ch === CLOSE_BRACKET || isSpace(ch)) break;
    i++;
  }
  return i;
}

/**
 * Maps each top-level member name of the JSON object `text` to the exact source text of its
 * value, e.g. `{"a": {"x":1}, "b":null}` -> `{ a: '{"x":1}', b: 'null' }`. A repeated name keeps
 * its last value, as JSON.parse does.
 * @throws SyntaxError when `text` is not a JSON object (callers validate with JSON.parse first).
 */
export function topLevelMembers(text: string): Map<string, string> {
  const members = new Map<string, string>();
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) throw new SyntaxError('not a JSON object');
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return members;
  for (;;) {
    i = skipSpace(text, i);
    if (text.charCodeAt(i) !== QUOTE) throw new SyntaxError(`expected a member name at ${i}`);
    const nameEnd = skipString(text, i);
    const rawName = text.slice(i + 1, nameEnd - 1);
    const name = rawName.includes('\\') ? (JSON.parse(text.slice(i, nameEnd)) as string) : rawName;
    i = skipSpace(text, nameEnd);
    if (text.charCodeAt(i) !== COLON) throw new SyntaxError(`expected ":" at ${i}`);
    i = skipSpace(text, i + 1);
    const valueEnd = skipValue(text, i);
    members.set(name, text.slice(i, valueEnd));
    i = skipSpace(text, valueEnd);
    const sep = text.charCodeAt(i);
    if (sep === COMMA) {
      i++;
      continue;
    }
    if (sep === CLOSE_BRACE) return members;
    throw new SyntaxError(`expected "," or "}" at ${i}`);
  }
}
