import { describe, expect, it } from 'vitest';
import { COMMUTE_MODES, DECLARED_SPORTS, OFFICE, generateHrData, haversineMetres, toCsv } from './hr-data.ts';

describe('generateHrData', () => {
  const data = generateHrData(2024);

  it('is deterministic for a seed and different for another', () => {
    expect(generateHrData(2024)).toEqual(data);
    expect(generateHrData(7).employees[0]).not.toEqual(data.employees[0]);
  });

  it('follows DOMAIN.md: ~160 employees, salaries 25k-80k EUR, known commute modes and sports', () => {
    expect(data.employees).toHaveLength(160);
    const salaries = data.employees.map((e) => e.gross_annual_salary_eur);
    expect(salaries.filter((s) => s === null)).toHaveLength(1);
    for (const s of salaries.filter((v) => v !== null)) {
      expect(s).toBeGreaterThanOrEqual(25_000);
      expect(s).toBeLessThanOrEqual(80_000);
    }
    expect(new Set(data.employees.map((e) => e.commute_mode))).toEqual(new Set(COMMUTE_MODES));
    for (const d of data.declaredSports) expect(DECLARED_SPORTS).toContain(d.sport);
    expect(new Set(data.employees.map((e) => e.employee_id)).size).toBe(160);
    for (const e of data.employees) expect(e.hire_date > e.birth_date).toBe(true);
  });

  it('includes implausible soft-commute declarations beyond 25 km', () => {
    const far = data.employees.filter(
      (e) => (e.commute_mode === 'Marche/running' || e.commute_mode === 'Vélo/Trottinette/Autres') && haversineMetres(e.home_lat, e.home_lon, OFFICE.lat, OFFICE.lon) > 25_000,
    );
    expect(far.length).toBeGreaterThanOrEqual(5);
  });
});

describe('haversineMetres', () => {
  it('gives the great-circle distance Paris - London (343.5 km)', () => {
    expect(haversineMetres(48.8566, 2.3522, 51.5074, -0.1278) / 1000).toBeCloseTo(343.5, 0);
    expect(haversineMetres(43.567, 3.899, 43.567, 3.899)).toBe(0);
  });
});

describe('toCsv', () => {
  it('quotes cells that need it and leaves nulls empty', () => {
    expect(toCsv([{ a: 'x,y', b: null, c: 'say "hi"' }], ['a', 'b', 'c'])).toBe('a,b,c\n"x,y",,"say ""hi"""\n');
  });
});
