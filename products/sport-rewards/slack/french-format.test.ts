import { describe, expect, it } from 'vitest';
import { deNoun, formatDistance, formatDuration } from './french-format.ts';

describe('formatDistance', () => {
  it('writes kilometres with one decimal and a decimal comma', () => {
    expect(formatDistance(10_800)).toBe('10,8 km');
    expect(formatDistance(10_849)).toBe('10,8 km');
    expect(formatDistance(10_000)).toBe('10 km');
    expect(formatDistance(1_000)).toBe('1 km');
    expect(formatDistance(42_195)).toBe('42,2 km');
  });
  it('writes short distances in metres, rounded to 10 m', () => {
    expect(formatDistance(850)).toBe('850 m');
    expect(formatDistance(804)).toBe('800 m');
    expect(formatDistance(0)).toBe('0 m');
  });
  it('groups thousands the French way (narrow no-break space)', () => {
    expect(formatDistance(1_234_500)).toBe('1\u202f234,5 km');
  });
});

describe('formatDuration', () => {
  it('writes minutes under an hour', () => {
    expect(formatDuration(46 * 60)).toBe('46 min');
    expect(formatDuration(46 * 60 + 29)).toBe('46 min');
    expect(formatDuration(60)).toBe('1 min');
  });
  it('writes hours with two-digit minutes', () => {
    expect(formatDuration(65 * 60)).toBe('1 h 05');
    expect(formatDuration(2 * 3600)).toBe('2 h');
    expect(formatDuration(3599)).toBe('1 h');
    expect(formatDuration(3 * 3600 + 42 * 60)).toBe('3 h 42');
  });
  it('writes seconds under a minute', () => {
    expect(formatDuration(45)).toBe('45 s');
  });
});

describe('deNoun', () => {
  it('elides before a vowel, not before an aspirated h', () => {
    expect(deNoun('tennis')).toBe('de tennis');
    expect(deNoun('escalade')).toBe('d’escalade');
    expect(deNoun('équitation')).toBe('d’équitation');
    expect(deNoun('handball')).toBe('de handball');
  });
});
