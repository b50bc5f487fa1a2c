/**
 * The machinery of per-service configuration (docs/architecture.md, "Configuration").
 *
 * A {@link variable} is written once: its name, its zod schema (type, range, default, unit
 * conversion) and its description. A {@link defineBlock block} groups variables into the fields of
 * the configuration object (e.g. `postgres.host` <- POSTGRES_HOST) and may derive fields from
 * them (`finish`). An entry point composes the blocks it reads and validates only those
 * ({@link loadBlocks}); its TypeScript type is derived ({@link ConfigOf}), never written by hand.
 * `.env.example` is rendered from the same blocks ({@link renderEnvExample}).
 */
import { z } from 'zod';

/** Thrown when one or more variables are invalid; `issues` lists `VARIABLE: problem` lines. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** One environment variable: name, schema and description, written once. */
export interface Variable<S extends z.ZodType = z.ZodType> {
  readonly kind: 'variable';
  readonly name: string;
  readonly schema: S;
  /** One or two sentences for `.env.example` (units, what unset means). */
  readonly description: string;
  /** Holds a secret: a rejected value is never echoed, and `.env.example` never shows a value. */
  readonly secret: boolean;
}

/**
 * Declares a variable.
 * @param schema validates the text of the variable (use `z.coerce` for numbers) and gives its
 *   default; a `.transform` after the default converts units (seconds -> ms) or resolves paths.
 */
export function variable<S extends z.ZodType>(name: string, schema: S, description: string, options: { secret?: boolean } = {}): Variable<S> {
  return { kind: 'variable', name, schema, description, secret: options.secret ?? false };
}

/** Nested fields of a configuration object, each leaf a variable. */
export interface Fields {
  readonly [field: string]: Variable | Fields;
}

/** The object a {@link Fields} tree builds: each variable replaced by its validated value. */
export type Built<F> = { -readonly [K in keyof F]: F[K] extends Variable<infer S> ? z.output<S> : Built<F[K]> };

/** A group of variables read together, e.g. "PostgreSQL" or "Slack notifier". */
export interface Block<F extends Fields = Fields, Out = unknown> {
  readonly title: string;
  readonly fields: F;
  /**
   * Derives the block's part of the configuration from its built fields (cross-variable defaults
   * and checks). @throws ConfigError naming the variables at fault.
   */
  readonly finish: (built: Built<F>) => Out;
}

/** Declares a block; without `finish`, its part of the configuration is its built fields. */
export function defineBlock<const F extends Fields, Out = Built<F>>(spec: { title: string; fields: F; finish?: (built: Built<F>) => Out }): Block<F, Out> {
  return { title: spec.title, fields: spec.fields, finish: spec.finish ?? ((built) => built as unknown as Out) };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyBlock = Block<any, any>;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** The configuration type of an entry point composed of `B` (the intersection of the blocks' parts). */
export type ConfigOf<B extends readonly AnyBlock[]> = UnionToIntersection<ReturnType<B[number]['finish']>>;

function isVariable(value: Variable | Fields): value is Variable {
  return (value as Variable).kind === 'variable';
}

function collect(fields: Fields, into: Map<string, Variable>): void {
  for (const value of Object.values(fields)) {
    if (!isVariable(value)) collect(value, into);
    else {
      const known = into.get(value.name);
      if (known && known !== value) throw new Error(`configuration variable ${value.name} is declared twice`);
      into.set(value.name, value);
    }
  }
}

/** Every variable of `blocks`, by name, in declaration order. @throws Error when one name has two declarations. */
export function variablesOf(blocks: readonly AnyBlock[]): Map<string, Variable> {
  const out = new Map<string, Variable>();
  for (const b of blocks) collect(b.fields, out);
  return out;
}

function build(fields: Fields, values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, isVariable(v) ? values[v.name] : build(v, values)]));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

function deepMerge(into: Record<string, unknown>, from: unknown): void {
  if (!isPlainObject(from)) return;
  for (const [k, v] of Object.entries(from)) {
    const current = into[k];
    if (isPlainObject(current) && isPlainObject(v)) deepMerge(current, v);
    else into[k] = isPlainObject(v) ? structuredMerge(v) : v;
  }
}

function structuredMerge(v: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  deepMerge(copy, v);
  return copy;
}

/** Shows the rejected value, except for secrets. */
function received(variable: Variable | undefined, env: Record<string, string>): string {
  if (!variable || !(variable.name in env)) return '';
  return variable.secret ? ' (value hidden)' : ` (got "${env[variable.name]}")`;
}

/**
 * Validates the variables of `blocks` (and only those) in `env` and builds the configuration.
 * Empty strings mean "unset", as in shell `FOO= cmd`, so defaults apply.
 * @throws ConfigError naming every invalid variable, e.g. `POSTGRES_PORT: expected number ... (got "eighty")`.
 */
export function loadBlocks<const B extends readonly AnyBlock[]>(blocks: B, env: NodeJS.ProcessEnv): ConfigOf<B> {
  const variables = variablesOf(blocks);
  const cleaned: Record<string, string> = {};
  for (const name of variables.keys()) {
    const value = env[name];
    if (value !== undefined && value !== '') cleaned[name] = value;
  }
  const schema = z.object(Object.fromEntries([...variables].map(([name, v]) => [name, v.schema])));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? '?');
        return `${name}: ${i.message}${received(variables.get(name), cleaned)}`;
      }),
    );
  }
  const out: Record<string, unknown> = {};
  const issues: string[] = [];
  for (const block of blocks) {
    try {
      deepMerge(out, block.finish(build(block.fields, parsed.data)));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return out as ConfigOf<B>;
}

/** The default of a variable as it would be written in the environment, or undefined without one. */
export function defaultText(variable: Variable): string | undefined {
  let s: z.ZodType | undefined = variable.schema;
  for (;;) {
    const def = s?._zod.def as { type: string; in?: z.ZodType; innerType?: z.ZodType; defaultValue?: unknown } | undefined;
    if (!def) return undefined;
    if (def.type === 'default') {
      const v = def.defaultValue;
      return Array.isArray(v) ? v.join(',') : String(v);
    }
    if (def.type === 'pipe') s = def.in;
    else if (def.type === 'optional' || def.type === 'nullable' || def.type === 'readonly') s = def.innerType;
    else return undefined;
  }
}

/** A section of `.env.example`: a block and the entry points that read it. */
export interface EnvExampleSection {
  block: AnyBlock;
  readBy: readonly string[];
  /** Every reader of one variable: those not in `readBy` are noted after its description. */
  variableReaders?: (name: string) => readonly string[];
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/**
 * `.env.example`: each block once, each variable once (under the first block declaring it), with
 * its description and default; a variable without a default, or a secret, is commented out.
 */
export function renderEnvExample(header: string, sections: readonly EnvExampleSection[]): string {
  const lines = header.trimEnd().split('\n');
  const written = new Set<string>();
  for (const { block, readBy, variableReaders } of sections) {
    const vars = [...variablesOf([block]).values()].filter((v) => !written.has(v.name));
    if (vars.length === 0) continue;
    lines.push('', `# --- ${block.title}`, ...wrap(`read by: ${readBy.join(', ')}`, 98).map((l) => `# ${l}`));
    for (const v of vars) {
      written.add(v.name);
      const also = (variableReaders?.(v.name) ?? []).filter((r) => !readBy.includes(r));
      lines.push(...wrap(`${v.description}${also.length > 0 ? ` Also read by: ${also.join(', ')}.` : ''}`, 98).map((l) => `# ${l}`));
      const value = defaultText(v);
      lines.push(v.secret || value === undefined || value === '' ? `# ${v.name}=${v.secret && value !== undefined ? value : ''}` : `${v.name}=${value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
