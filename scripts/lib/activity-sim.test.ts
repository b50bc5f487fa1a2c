import { describe, expect, it } from 'vitest';
import { HISTORY_ID_BASE, SPORT_PROFILES, generateHistory, generateLiveActivity, newFaker } from './activity-sim.ts';
import { generateHrData } from './hr-data.ts';

const { habits } = generateHrData(2024);
const endDay = new Date(Date.UTC(2026, 0, 1));

describe('generateHistory', () => {
  const history = generateHistory(habits, { seed: 2024, endDay, days: 365 });

  it('produces thousands of activities, identically for the same seed', () => {
    expect(history.length).toBeGreaterThan(3000);
    expect(generateHistory(habits, { seed: 2024, endDay, days: 365 })).toEqual(history);
  });

  it('keeps every activity inside the period, consistent and with a unique high-range id', () => {
    const ids = new Set(history.map((a) => a.activity_id));
    expect(ids.size).toBe(history.length);
    for (const a of history) {
      expect(a.activity_id).toBeGreaterThanOrEqual(HISTORY_ID_BASE);
      expect(a.started_at.getTime()).toBeGreaterThanOrEqual(endDay.getTime() - 365 * 86_400_000);
      expect(a.started_at.getTime()).toBeLessThan(endDay.getTime());
      expect(a.ended_at.getTime() - a.started_at.getTime()).toBe(a.elapsed_seconds * 1000);
      const profile = SPORT_PROFILES[a.sport_type];
      if (profile?.km) expect(a.distance_m).toBeGreaterThan(0);
      else expect(a.distance_m).toBeNull();
    }
  });

  it('follows habits: nobody without a habit has activities, regular practitioners have many', () => {
    const counts = new Map<number, number>();
    for (const a of history) counts.set(a.employee_id, (counts.get(a.employee_id) ?? 0) + 1);
    for (const h of habits) {
      if (h.activitiesPerWeek === 0) expect(counts.get(h.employee_id)).toBeUndefined();
      if (h.activitiesPerWeek >= 2) expect(counts.get(h.employee_id)!).toBeGreaterThan(50);
    }
  });

  it('keeps running speeds human (8.5-14 km/h)', () => {
    for (const a of history.filter((x) => x.sport_type === 'Runing')) {
      const kmh = a.distance_m! / 1000 / (a.elapsed_seconds / 3600);
      expect(kmh).toBeGreaterThan(8.4);
      expect(kmh).toBeLessThan(14.1);
    }
  });
});

describe('generateLiveActivity', () => {
  it('ends now and belongs to a practising employee', () => {
    const now = new Date();
    const a = generateLiveActivity(newFaker(1), habits, now);
    expect(a.ended_at).toEqual(now);
    expect(habits.find((h) => h.employee_id === a.employee_id)!.activitiesPerWeek).toBeGreaterThan(0);
  });
  it('refuses when nobody practises', () => {
    expect(() => generateLiveActivity(newFaker(1), [], new Date())).toThrow(/db:seed/);
  });
});
