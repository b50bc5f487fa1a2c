/**
 * Statistical disclosure control for figures about employees served outside the lakehouse's
 * access control (the monitor's dashboard API; docs/security.md, "Figures about people").
 *
 * The rule: no served figure may be computed from fewer than k people (k = MONITOR_MIN_GROUP_SIZE),
 * and no combination of served figures may be either. Suppressing small cells alone is not enough:
 * a suppressed cell is recovered by differencing (a total minus the other cells; a longer period
 * minus a shorter one). So figures are served from a fixed partition chosen once for the whole data
 * set, never per request:
 * - {@link partitionGroups}: groups (business units) too small for some figure are merged with
 *   others into blocks, the smallest first, until every block holds 0 or at least k contributors
 *   for every figure; a figure whose total over everything is below k is suppressed everywhere.
 *   Every served figure is then a sum of whole blocks, so a difference of served figures is too.
 * - {@link uniformCategories}: for a table of groups x categories (e.g. business unit x reason of
 *   a decision), the categories shown are the same for every group and for the total, chosen so
 *   that every shown cell holds 0 or at least k people; the others are shown as one "other" cell.
 *   The total of a category is then the sum of the groups' cells, and no cell can be recovered as
 *   a difference.
 * - {@link roundMoney}: amounts derived from salaries are rounded to a step, so the residual
 *   differences that no partition can stop (a hire between two years of the same block changes
 *   the block by one salary's share) tell a salary only to within thousands of euros.
 * All functions are pure and deterministic (ties broken by key).
 */

/** A group (e.g. a business unit) and, per figure, how many people its value of that figure is computed from. */
export interface GroupCounts {
  key: string;
  /** figure -> contributors, e.g. `{ 'wellbeing:2025': 3, headcount: 6 }`; a missing figure counts 0. */
  counts: Readonly<Record<string, number>>;
}

/** A block of the partition: one or more groups whose figures are only ever served together. */
export interface Block {
  /** The group key when the block is one group; otherwise the members joined with " + ". */
  label: string;
  members: string[];
  counts: Record<string, number>;
}

export interface Partition {
  blocks: Block[];
  /** Figures whose total over every group is between 1 and k - 1: served nowhere. */
  suppressed: Set<string>;
  /** group key -> the block holding it. */
  blockOf: Map<string, Block>;
}

const isSmall = (n: number, k: number) => n > 0 && n < k;

function sumCounts(groups: readonly { counts: Readonly<Record<string, number>> }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of groups) for (const [f, n] of Object.entries(g.counts)) out[f] = (out[f] ?? 0) + n;
  return out;
}

/**
 * Partitions `groups` into blocks that each hold 0 or at least `k` contributors for every figure
 * that is not suppressed (see the module documentation).
 *
 * Groups that are too small (for any figure) are merged together, then the merged block takes,
 * one at a time, the smallest remaining group (fewest contributors, then key) among those adding
 * contributors to a figure it is short of, until it is large enough. The figures whose total is
 * too small are suppressed first, so the loop always ends (at worst with every group merged).
 * @param k the minimum group size, >= 1.
 */
export function partitionGroups(groups: readonly GroupCounts[], k: number): Partition {
  const total = sumCounts(groups);
  const suppressed = new Set(Object.entries(total).filter(([, n]) => isSmall(n, k)).map(([f]) => f));
  const small = (counts: Readonly<Record<string, number>>) => Object.entries(counts).some(([f, n]) => !suppressed.has(f) && isSmall(n, k));
  const size = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((a, n) => a + n, 0);
  const byKey = [...groups].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const keep = byKey.filter((g) => !small(g.counts));
  let merged = byKey.filter((g) => small(g.counts));
  // Take kept groups into the merged block until it is large enough: each time the smallest of
  // those that add contributors to a figure the block is short of.
  keep.sort((a, b) => size(a.counts) - size(b.counts) || (a.key < b.key ? -1 : 1));
  for (let counts = sumCounts(merged); merged.length > 0 && small(counts); counts = sumCounts(merged)) {
    const short = Object.entries(counts).filter(([f, n]) => !suppressed.has(f) && isSmall(n, k)).map(([f]) => f);
    const next = keep.findIndex((g) => short.some((f) => (g.counts[f] ?? 0) > 0));
    merged = [...merged, ...keep.splice(next, 1)];
  }
  const blocks: Block[] = keep
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .map((g) => ({ label: g.key, members: [g.key], counts: { ...g.counts } }));
  if (merged.length > 0) {
    const members = merged.map((g) => g.key).sort();
    blocks.push({ label: members.join(' + '), members, counts: sumCounts(merged) });
  }
  const blockOf = new Map<string, Block>();
  for (const b of blocks) for (const m of b.members) blockOf.set(m, b);
  return { blocks, suppressed, blockOf };
}

/**
 * The categories of a groups x categories table of people counts that may be shown on their own,
 * the same for every group (see the module documentation); the others form one "other" category.
 *
 * A category is shown only when its cell is 0 or at least `k` in every group; while some group's
 * "other" cell is between 1 and k - 1, the smallest shown category (by its total) joins "other".
 * @param table group -> category -> people.
 * @returns the shown categories (sorted) and the merged ones (sorted).
 */
export function uniformCategories(table: ReadonlyMap<string, ReadonlyMap<string, number>>, k: number): { shown: string[]; other: string[] } {
  const categories = new Set<string>();
  for (const row of table.values()) for (const c of row.keys()) categories.add(c);
  const totals = new Map([...categories].map((c) => [c, [...table.values()].reduce((a, row) => a + (row.get(c) ?? 0), 0)]));
  const shown = new Set([...categories].filter((c) => [...table.values()].every((row) => !isSmall(row.get(c) ?? 0, k))));
  const otherCell = (row: ReadonlyMap<string, number>) => [...row].filter(([c]) => !shown.has(c)).reduce((a, [, n]) => a + n, 0);
  while ([...table.values()].some((row) => isSmall(otherCell(row), k)) && shown.size > 0) {
    const smallest = [...shown].sort((a, b) => totals.get(a)! - totals.get(b)! || (a < b ? -1 : 1))[0]!;
    shown.delete(smallest);
  }
  return { shown: [...shown].sort(), other: [...categories].filter((c) => !shown.has(c)).sort() };
}

/**
 * `value` rounded to the nearest multiple of `step` (half away from zero); null stays null.
 * @param step euros, >= 1.
 */
export function roundMoney(value: number | null, step: number): number | null {
  if (value === null) return null;
  const q = Math.abs(value) / step;
  return Math.sign(value) * Math.round(q) * step || 0;
}
