/**
 * What every contract reader of services/common/contracts/ throws (or returns) when a value does
 * not satisfy its contract: the contract's name and one `path: problem` line per zod issue, so a
 * log line, a dead-letter header or a status page can name the offending field.
 *
 * Conventions of the contracts folder (docs/architecture.md, "Contracts"): one module per
 * contract, each with ONE zod schema (types are `z.output`/`z.input` of it, never a hand-written
 * interface repeating it), one reader (`parse…`/`decode…`: bytes or text -> typed value, or a
 * {@link ContractError}) and one writer (`encode…`/`build…`: typed value -> bytes or text,
 * validated by the same schema). An unknown value is a validation error, never a cast.
 */
import type { z } from 'zod';

/** `a.b[2].c` for a zod issue path; empty for the root. */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

/**
 * One line per issue: `path: message`, or the bare message when it is about the root or already
 * names its field (custom messages such as `unknown op "x"`).
 */
export function formatIssues(issues: readonly z.ZodError['issues'][number][]): string[] {
  return issues.map((i) => {
    const at = issuePath(i.path);
    const leaf = i.path.at(-1);
    return at === '' || (typeof leaf === 'string' && i.message.includes(leaf)) ? i.message : `${at}: ${i.message}`;
  });
}

/** A value that does not satisfy contract `contract`; `issues` are `path: problem` lines. */
export class ContractError extends Error {
  constructor(
    readonly contract: string,
    readonly issues: string[],
  ) {
    super(`${contract}: ${issues.join('; ')}`);
    this.name = 'ContractError';
  }

  /** From a zod error. */
  static of(contract: string, error: z.ZodError): ContractError {
    return new ContractError(contract, formatIssues(error.issues));
  }
}

/** JSON.parse that throws a {@link ContractError} naming `contract` instead of a SyntaxError. */
export function parseJsonText(contract: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ContractError(contract, [`not valid JSON: ${(err as Error).message}`]);
  }
}

/**
 * The reader half of a JSON contract: parses `text` and validates (decodes) it with `schema`.
 * @throws ContractError naming `contract` and every problem.
 */
export function readJsonContract<S extends z.ZodType>(contract: string, schema: S, text: string): z.output<S> {
  const result = schema.safeParse(parseJsonText(contract, text));
  if (!result.success) throw ContractError.of(contract, result.error);
  return result.data;
}

/**
 * The writer half: validates `value` with `schema` and returns its JSON form (codecs encoded,
 * e.g. Dates as ISO text), ready for JSON.stringify.
 * @throws ContractError for a value the reader would reject.
 */
export function toJsonContract<S extends z.ZodType>(contract: string, schema: S, value: z.output<S>): z.input<S> {
  const result = schema.safeEncode(value);
  if (!result.success) throw ContractError.of(contract, result.error);
  return result.data;
}
