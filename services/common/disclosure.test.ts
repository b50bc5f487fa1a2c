import { describe, expect, it } from 'vitest';
import { partitionGroups, roundMoney, uniformCategories } from './disclosure.ts';

describe('partitionGroups', () => {
  it('keeps groups that are large enough for every figure and merges the small ones, the smallest first', () => {
    const p = partitionGroups(
      [
        { key: 'Ventes', counts: { headcount: 40, wb2025: 12 } },
        { key: 'R&D', counts: { headcount: 30, wb2025: 9 } },
        { key: 'Support', counts: { headcount: 9, wb2025: 5 } },
        { key: 'Direction', counts: { headcount: 3, wb2025: 1 } },
        { key: 'Juridique', counts: { headcount: 5, wb2025: 2 } },
      ],
      5,
    );
    // Direction + Juridique hold 8 people but 3 contributors to wb2025: Support (the smallest kept) joins them.
    expect(p.blocks.map((b) => b.label)).toEqual(['R&D', 'Ventes', 'Direction + Juridique + Support']);
    expect(p.blocks.at(-1)!.counts).toEqual({ headcount: 17, wb2025: 8 });
    expect(p.blockOf.get('Juridique')!.label).toBe('Direction + Juridique + Support');
    expect(p.suppressed.size).toBe(0);
    for (const b of p.blocks) for (const n of Object.values(b.counts)) expect(n === 0 || n >= 5).toBe(true);
  });

  it('treats 0 contributors as safe and suppresses a figure whose total is below k', () => {
    const p = partitionGroups(
      [
        { key: 'A', counts: { headcount: 6, wb2024: 0, wb2025: 2 } },
        { key: 'B', counts: { headcount: 7, wb2024: 1, wb2025: 0 } },
      ],
      5,
    );
    // wb2025 totals 2 and wb2024 totals 1: both suppressed, so nothing forces a merge.
    expect([...p.suppressed].sort()).toEqual(['wb2024', 'wb2025']);
    expect(p.blocks.map((b) => b.label)).toEqual(['A', 'B']);
  });

  it('merges everything when nothing smaller protects the figures', () => {
    const p = partitionGroups(
      [
        { key: 'A', counts: { n: 1 } },
        { key: 'B', counts: { n: 2 } },
        { key: 'C', counts: { n: 10 } },
        { key: 'D', counts: { n: 0 } },
      ],
      5,
    );
    // A + B hold 3: C joins them (D, smaller, adds nobody to n and stays on its own).
    expect(p.blocks.map((b) => b.label)).toEqual(['D', 'A + B + C']);
    expect(p.blockOf.get('C')!.counts).toEqual({ n: 13 });
  });
});

describe('uniformCategories', () => {
  const table = (rows: Record<string, Record<string, number>>) => new Map(Object.entries(rows).map(([g, r]) => [g, new Map(Object.entries(r))]));

  it('shows a category only when every group has 0 or at least k in it, and keeps every "other" cell large', () => {
    const t = table({
      Ventes: { eligible: 12, mode_not_eligible: 25, distance_above_limit: 1, distance_missing: 0 },
      'R&D': { eligible: 8, mode_not_eligible: 20, distance_above_limit: 0, distance_missing: 2 },
      Support: { eligible: 5, mode_not_eligible: 6 },
    });
    const { shown, other } = uniformCategories(t, 5);
    // Ventes' other cell would hold 1 and R&D's 2: the smallest shown category (eligible, 25) joins "other".
    expect(shown).toEqual(['mode_not_eligible']);
    expect(other).toEqual(['distance_above_limit', 'distance_missing', 'eligible']);
    for (const row of t.values()) {
      const otherCell = other.reduce((a, c) => a + (row.get(c) ?? 0), 0);
      expect(otherCell === 0 || otherCell >= 5).toBe(true);
      for (const c of shown) expect((row.get(c) ?? 0) === 0 || row.get(c)! >= 5).toBe(true);
    }
  });

  it('shows every category when no cell is small', () => {
    expect(uniformCategories(table({ A: { x: 5, y: 0 }, B: { x: 6, y: 7 } }), 5)).toEqual({ shown: ['x', 'y'], other: [] });
  });
});

describe('roundMoney', () => {
  it('rounds to the nearest step, half away from zero', () => {
    expect(roundMoney(1376.15, 100)).toBe(1400);
    expect(roundMoney(1349.99, 100)).toBe(1300);
    expect(roundMoney(1350, 100)).toBe(1400);
    expect(roundMoney(-1350, 100)).toBe(-1400);
    expect(roundMoney(0.4, 1)).toBe(0);
    expect(roundMoney(null, 100)).toBeNull();
  });
});
