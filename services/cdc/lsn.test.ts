import { describe, expect, it } from 'vitest';
import { formatLsn, parseLsn } from './lsn.ts';

describe('LSN text form', () => {
  it('parses both halves as hexadecimal', () => {
    expect(parseLsn('0/19535E0')).toBe(0x19535e0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn('ffffffff/ffffffff')).toBe(0xffffffffffffffffn);
    expect(parseLsn('1FFFFF/FFFFFFFF')).toBe(0x1fffffffffffffn);
    expect(parseLsn('200000/0')).toBe(0x20000000000000n);
    expect(parseLsn(' aB/cD ')).toBe((0xabn << 32n) | 0xcdn);
  });

  it('formats as PostgreSQL prints it, and round-trips', () => {
    expect(formatLsn(0x19535e0n)).toBe('0/19535E0');
    expect(formatLsn(0n)).toBe('0/0');
    expect(parseLsn(formatLsn(123456789012345n))).toBe(123456789012345n);
  });

  it('rejects text that is not an LSN', () => {
    expect(() => parseLsn('19535E0')).toThrow(/not an LSN/);
    expect(() => parseLsn('0/XYZ')).toThrow(/not an LSN/);
    expect(() => parseLsn('123456789/0')).toThrow(/not an LSN/);
    expect(() => parseLsn('0/123456789')).toThrow(/not an LSN/);
    expect(() => parseLsn('/1')).toThrow(/not an LSN/);
    expect(() => parseLsn('1/')).toThrow(/not an LSN/);
    expect(() => parseLsn('1/-1')).toThrow(/not an LSN/);
  });
});
