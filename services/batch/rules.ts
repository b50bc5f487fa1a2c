/**
 * The business rules and quality thresholds of the batch job, as a versioned JSON file
 * (products/sport-rewards/rules.json by default; BATCH_RULES_FILE). Defaults and meaning: ../shared/DOMAIN.md,
 * "Business rules". Pure apart from {@link loadRules} reading the file.
 *
 * The file is validated with zod before anything else runs; a bad value throws
 * {@link RulesError} whose lines name each field by its JSON path (`sportBonus.rate: ...`), so gold
 * is never touched by a run with bad parameters. The hash of the validated rules (canonical JSON,
 * keys sorted, `$comment` left out) is recorded with every run, so run_log says which parameters
 * produced which figures.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { COMMUTE_MODES, SPORT_TYPES } from '../../products/sport-rewards/gold/constants.ts';

/** Thrown for an unreadable or invalid rules file; `issues` lists `field: problem` lines. */
export class RulesError extends Error {
  constructor(
    readonly file: string,
    readonly issues: string[],
  ) {
    super(`Invalid rules file ${file}:\n  - ${issues.join('\n  - ')}`);
    this.name = 'RulesError';
  }
}

const km = z.number().positive().max(1000);

/** Levenshtein distance (for "did you mean" hints on misspelt keys). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest of `known` to `key` when it is a likely misspelling (case, accents, a few letters). */
export function closestKnown(key: string, known: readonly string[]): string | undefined {
  const fold = (s: string) => s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = editDistance(fold(key), fold(name));
    if (d <= Math.max(2, Math.floor(name.length / 4)) && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** A hint naming the closest known value, if any. */
function didYouMean(key: string, known: readonly string[]): string {
  const close = closestKnown(key, known);
  return close ? `; did you mean ${JSON.stringify(close)}?` : '';
}

/**
 * Commute-mode keys must be modes HR records (the source's CHECK constraint, COMMUTE_MODES): a
 * misspelt mode would silently make nobody of that mode eligible.
 */
const commuteModeKeys = z.record(z.string().min(1), km).superRefine((modes, ctx) => {
  for (const mode of Object.keys(modes)) {
    if (!(COMMUTE_MODES as readonly string[]).includes(mode)) {
      ctx.addIssue({
        code: 'custom',
        path: [mode],
        message: `unknown commute mode ${JSON.stringify(mode)}: HR records ${COMMUTE_MODES.map((m) => JSON.stringify(m)).join(', ')}${didYouMean(mode, COMMUTE_MODES)}`,
      });
    }
  }
});
const kmh = z.number().positive().max(1000);

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export const rulesSchema = z
  .object({
    $comment: z.string().optional(),
    /**
     * The source the sport-rewards data product reads: its namespace (the CDC topic prefix;
     * absent: the deployment's KAFKA_TOPIC_PREFIX) and PostgreSQL schema; the product binds to
     * `<namespace>.<schema>.employees`, `.activities`, `.declared_sports` and `.commute_distances`
     * (products/sport-rewards/README.md).
     */
    source: z
      .object({ namespace: z.string().trim().min(1).optional(), schema: z.string().trim().min(1) })
      .strict()
      .default({ schema: 'public' }),
    /** Version label of the parameter set, e.g. "2026.1"; change it with any value. */
    version: z.string().trim().min(1),
    /** IANA zone in which days, months and years of activities are counted. */
    timezone: z.string().refine(isTimeZone, 'expected an IANA time zone such as "Europe/Paris"'),
    sportBonus: z
      .object({
        /** Share of the gross annual salary paid as sport bonus (0.05 = 5 %). */
        rate: z.number().min(0).max(1),
        /** Commute modes that qualify, with their maximum home-to-office distance in km (inclusive). */
        maxCommuteKmByMode: commuteModeKeys.refine((m) => Object.keys(m).length > 0, 'expected at least one commute mode'),
      })
      .strict(),
    wellbeing: z
      .object({
        /** Activities needed in a calendar year to earn the extra days (inclusive). */
        minActivitiesPerYear: z.number().int().min(1).max(10_000),
        /** Extra days off granted. */
        extraDays: z.number().min(0).max(366),
        /** Divisor of the gross annual salary giving the cost of one day. */
        workingDaysPerYear: z.number().positive().max(366),
      })
      .strict(),
    quarantine: z
      .object({
        /** An activity starting more than this after the run's reference time is "in the future". */
        futureToleranceMinutes: z.number().min(0).max(7 * 24 * 60),
        /** Speed limit (km/h) of sports absent from maxSpeedKmhBySport. */
        defaultMaxSpeedKmh: kmh,
        /**
         * Highest plausible average speed per sport type, km/h. Sport names are exact: known ones
         * (SPORT_TYPES) or ones found in the source's reference data (checked by the refresh,
         * {@link unknownSports}); a close misspelling of a known sport is an error here.
         */
        maxSpeedKmhBySport: z.record(z.string().min(1), kmh).superRefine((sports, ctx) => {
          for (const sport of Object.keys(sports)) {
            const close = (SPORT_TYPES as readonly string[]).includes(sport) ? undefined : closestKnown(sport, SPORT_TYPES);
            if (close) ctx.addIssue({ code: 'custom', path: [sport], message: `unknown sport type ${JSON.stringify(sport)}; did you mean ${JSON.stringify(close)}?` });
          }
        }),
        /** elapsed_seconds may differ from ended_at - started_at by at most this many seconds. */
        elapsedToleranceSeconds: z.number().min(0).max(86_400).default(60),
        /** Longest plausible activity (elapsed_seconds), hours. */
        maxDurationHours: z.number().positive().max(24 * 366).default(48),
        /** Activities starting before this day (00:00 UTC, "YYYY-MM-DD") are too old to be true. */
        notBefore: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date "YYYY-MM-DD"')
          .refine((d) => Number.isFinite(Date.parse(`${d}T00:00:00Z`)), 'not a calendar date')
          .default('2000-01-01'),
      })
      .strict(),
    quality: z
      .object({
        /** Warn when the newest source event is older than this. */
        freshnessMaxHours: z.number().positive(),
        volume: z
          .object({
            /** Days before the checked day that form the baseline. */
            trailingDays: z.number().int().min(2).max(366),
            /** Fewer baseline days with data than this: the check is skipped. */
            minHistoryDays: z.number().int().min(2),
            /** Warn when |count - mean| / stddev exceeds this. */
            maxZScore: z.number().positive(),
          })
          .strict()
          .refine((v) => v.minHistoryDays <= v.trailingDays, { message: 'must not exceed trailingDays', path: ['minHistoryDays'] }),
        /** Warn when total cost moves more than this many percent against the previous successful run. */
        costDriftMaxPct: z.number().min(0),
        /**
         * A run whose rules differ from the previous successful run's and whose bonus total moves
         * more than this many percent against it does not swap gold unless `--accept-drift` is given.
         */
        rulesChangeMaxBonusDriftPct: z.number().min(0).default(10),
      })
      .strict(),
  })
  .strict();

export type Rules = z.infer<typeof rulesSchema>;

/** Validated rules with their provenance. */
export interface LoadedRules {
  rules: Rules;
  /** Canonical JSON of the rules (sorted keys, no `$comment`). */
  canonical: string;
  /** sha256 of `canonical`, hex. */
  hash: string;
  file: string;
}

/** JSON with object keys sorted at every level, so equal rules always hash the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Validates rules given as JSON text.
 * @param file shown in error messages.
 * @throws RulesError naming each invalid field, e.g. `sportBonus.rate: Too big: expected number to be <=1 (got 5)`.
 */
export function parseRules(text: string, file = 'rules'): LoadedRules {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RulesError(file, [`(file): not valid JSON: ${(err as Error).message}`]);
  }
  const parsed = rulesSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RulesError(
      file,
      parsed.error.issues.map((issue) => {
        const field = issue.path.map(String).join('.') || '(root)';
        const got = valueAt(raw, issue.path);
        return `${field}: ${issue.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`;
      }),
    );
  }
  const { $comment: _comment, ...rules } = parsed.data;
  const canonical = canonicalJson(rules);
  return { rules: parsed.data, canonical, hash: createHash('sha256').update(canonical).digest('hex'), file };
}

/**
 * Sport names of `rules` that are not known sport types (SPORT_TYPES) and not in `reference`
 * (the sport values of the source: declared sports and activity types). A rules file naming one
 * is refused by the refresh ({@link RulesError}): its limit would apply to nothing.
 */
export function unknownSports(rules: Rules, reference: Iterable<string>): string[] {
  const known = new Set<string>([...SPORT_TYPES, ...reference]);
  return Object.keys(rules.quarantine.maxSpeedKmhBySport).filter((s) => !known.has(s));
}

/** The RulesError of {@link unknownSports}' result. */
export function unknownSportsError(file: string, sports: readonly string[]): RulesError {
  return new RulesError(
    file,
    sports.map(
      (s) =>
        `quarantine.maxSpeedKmhBySport.${s}: unknown sport type ${JSON.stringify(s)}: neither a known sport (${SPORT_TYPES.join(', ')}) nor a sport of the source's declared sports or activities`,
    ),
  );
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return typeof cur === 'object' && cur !== null ? undefined : cur;
}

/**
 * Reads and validates the rules file.
 * @throws RulesError when the file cannot be read or a value is invalid.
 */
export async function loadRules(file: string): Promise<LoadedRules> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new RulesError(file, [`(file): cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseRules(text, file);
}
