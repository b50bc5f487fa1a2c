import { describe, expect, it } from 'vitest';
import { parsePeriod, parseRate, unitHash } from './simulator.ts';

describe('simulator flags', () => {
  it('parses periods', () => {
    expect(parsePeriod('12mo')).toBe(365);
    expect(parsePeriod('90d')).toBe(90);
    expect(parsePeriod('2w')).toBe(14);
    expect(parsePeriod('1y')).toBe(365);
  });
  it('rejects bad periods with the flag name', () => {
    expect(() => parsePeriod('12')).toThrow(/--history: expected a period/);
    expect(() => parsePeriod('0d')).toThrow(/--history/);
    expect(() => parsePeriod('99y')).toThrow(/10 years/);
  });
  it('parses rates into events per second', () => {
    expect(parseRate('2/s')).toBe(2);
    expect(parseRate('30/min')).toBe(0.5);
    expect(parseRate('3600/h')).toBe(1);
  });
  it('rejects bad rates with the flag name', () => {
    expect(() => parseRate('fast')).toThrow(/--rate: expected/);
    expect(() => parseRate('0/s')).toThrow(/--rate/);
  });
  it('hashes deterministically into [0, 1)', () => {
    expect(unitHash('2024:1')).toBe(unitHash('2024:1'));
    const values = Array.from({ length: 1000 }, (_, i) => unitHash(`s:${i}`));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.filter((v) => v < 0.1).length).toBeGreaterThan(60);
  });
});
