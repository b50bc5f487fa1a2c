/**
 * Deterministic (seeded) HR data set for Sport Data Solution, following DOMAIN.md:
 * about 160 employees with French names, homes in Hérault and Gard towns with coordinates,
 * gross annual salaries of 25,000-80,000 EUR, a believable mix of commute modes, and a few
 * implausible commute declarations (e.g. "Marche/running" from 40 km away) that the quality
 * rules must catch. One employee has no salary on file, also a quality finding.
 *
 * Pure: the same seed always gives the same rows; no I/O.
 */
import { Faker, fr, base } from '@faker-js/faker';

/** Head office (DOMAIN.md). */
export const OFFICE = { address: '1362 Av. des Platanes, 34970 Lattes, France', lat: 43.567, lon: 3.899 } as const;

export const COMMUTE_MODES = ['Transports en commun', 'véhicule thermique/électrique', 'Marche/running', 'Vélo/Trottinette/Autres'] as const;
export type CommuteMode = (typeof COMMUTE_MODES)[number];

/** Declared sports as HR records them (the "Runing" spelling is HR's own). */
export const DECLARED_SPORTS = [
  'Runing', 'Randonnée', 'Tennis', 'Natation', 'Football', 'Rugby', 'Badminton', 'Voile', 'Judo', 'Boxe',
  'Escalade', 'Triathlon', 'Équitation', 'Tennis de table', 'Basketball',
] as const;

export const BUSINESS_UNITS = ['Ventes', 'Marketing', 'R&D', 'Support', 'Finance', 'Ressources humaines', 'Juridique', 'Direction'] as const;

interface Town {
  name: string;
  postcode: string;
  lat: number;
  lon: number;
  /** Relative share of employees living there. */
  weight: number;
}

/** Towns of Hérault (34) and Gard (30), with their centre's coordinates. */
export const TOWNS: Town[] = [
  { name: 'Montpellier', postcode: '34000', lat: 43.6108, lon: 3.8767, weight: 30 },
  { name: 'Lattes', postcode: '34970', lat: 43.5676, lon: 3.9006, weight: 8 },
  { name: 'Pérols', postcode: '34470', lat: 43.5655, lon: 3.9517, weight: 5 },
  { name: 'Castelnau-le-Lez', postcode: '34170', lat: 43.6336, lon: 3.9006, weight: 6 },
  { name: 'Saint-Jean-de-Védas', postcode: '34430', lat: 43.577, lon: 3.826, weight: 5 },
  { name: 'Juvignac', postcode: '34990', lat: 43.6135, lon: 3.81, weight: 4 },
  { name: 'Mauguio', postcode: '34130', lat: 43.616, lon: 4.008, weight: 4 },
  { name: 'Palavas-les-Flots', postcode: '34250', lat: 43.5285, lon: 3.929, weight: 3 },
  { name: 'Villeneuve-lès-Maguelone', postcode: '34750', lat: 43.533, lon: 3.861, weight: 3 },
  { name: 'Le Crès', postcode: '34920', lat: 43.6475, lon: 3.9394, weight: 3 },
  { name: 'Clapiers', postcode: '34830', lat: 43.6578, lon: 3.8886, weight: 2 },
  { name: 'Grabels', postcode: '34790', lat: 43.6483, lon: 3.8028, weight: 2 },
  { name: 'Saint-Gély-du-Fesc', postcode: '34980', lat: 43.6928, lon: 3.805, weight: 2 },
  { name: 'Fabrègues', postcode: '34690', lat: 43.5508, lon: 3.7761, weight: 2 },
  { name: 'Jacou', postcode: '34830', lat: 43.6611, lon: 3.9128, weight: 2 },
  { name: 'Prades-le-Lez', postcode: '34730', lat: 43.6983, lon: 3.865, weight: 1 },
  { name: 'Sète', postcode: '34200', lat: 43.4028, lon: 3.6928, weight: 3 },
  { name: 'Frontignan', postcode: '34110', lat: 43.4485, lon: 3.756, weight: 2 },
  { name: 'Lunel', postcode: '34400', lat: 43.6756, lon: 4.1358, weight: 3 },
  { name: 'Nîmes', postcode: '30000', lat: 43.8367, lon: 4.3601, weight: 3 },
  { name: 'Sommières', postcode: '30250', lat: 43.7836, lon: 4.0894, weight: 1 },
  { name: 'Vauvert', postcode: '30600', lat: 43.6942, lon: 4.2769, weight: 1 },
  { name: 'Alès', postcode: '30100', lat: 44.125, lon: 4.0817, weight: 1 },
  { name: 'Béziers', postcode: '34500', lat: 43.3442, lon: 3.2158, weight: 1 },
  { name: 'Pézenas', postcode: '34120', lat: 43.4592, lon: 3.4228, weight: 1 },
  { name: 'Ganges', postcode: '34190', lat: 43.9339, lon: 3.7081, weight: 1 },
];

export interface Employee {
  employee_id: number;
  last_name: string;
  first_name: string;
  /** ISO date YYYY-MM-DD. */
  birth_date: string;
  business_unit: string;
  /** ISO date YYYY-MM-DD. */
  hire_date: string;
  /** Gross annual salary in EUR; null for the one employee whose salary is missing. */
  gross_annual_salary_eur: number | null;
  contract_type: 'CDI' | 'CDD';
  paid_leave_days: number;
  home_address: string;
  home_postcode: string;
  home_city: string;
  home_lat: number;
  home_lon: number;
  commute_mode: CommuteMode;
}

export interface DeclaredSport {
  employee_id: number;
  sport: string;
}

/** How often and when an employee practises, used by the activity simulator. */
export interface SportHabit {
  employee_id: number;
  /** Mean number of activities per week (0 for employees who never record any). */
  activitiesPerWeek: number;
  /** Sport of most activities: the declared one, or a casual one for undeclared practitioners. */
  mainSport: string;
  /** Occasional other sport. */
  secondarySport: string | null;
}

export interface HrDataSet {
  employees: Employee[];
  declaredSports: DeclaredSport[];
  habits: SportHabit[];
}

/** Great-circle distance in metres between two WGS84 points (haversine, mean Earth radius). */
export function haversineMetres(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const R = 6_371_008.8;
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(lat2 - lat1);
  const dLon = rad(lon2 - lon1);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(a));
}

const isoDate = (d: Date) => d.toISOString().slice(0, 10);

/**
 * Generates the data set.
 * @param seed PRNG seed; the same seed gives identical output.
 * @param count number of employees (default 160).
 * @param firstId employee_id of the first employee; ids are consecutive.
 */
export function generateHrData(seed = 2024, count = 160, firstId = 1001): HrDataSet {
  const faker = new Faker({ locale: [fr, base], seed });
  const townWeights = TOWNS.map((t) => ({ weight: t.weight, value: t }));
  const employees: Employee[] = [];
  const declaredSports: DeclaredSport[] = [];
  const habits: SportHabit[] = [];
  // A few employees declare a soft commute from far away: the implausible declarations.
  const implausible = new Set(faker.helpers.arrayElements(Array.from({ length: count }, (_, i) => i), 6));
  const missingSalary = faker.number.int({ min: 0, max: count - 1 });

  for (let i = 0; i < count; i++) {
    const sex = faker.person.sexType();
    const firstName = faker.person.firstName(sex);
    const lastName = faker.person.lastName();
    const town = implausible.has(i)
      ? faker.helpers.arrayElement(TOWNS.filter((t) => haversineMetres(t.lat, t.lon, OFFICE.lat, OFFICE.lon) > 30_000))
      : faker.helpers.weightedArrayElement(townWeights);
    // Spread homes around the town centre (about ±1.5 km).
    const lat = Number((town.lat + faker.number.float({ min: -0.0135, max: 0.0135 })).toFixed(6));
    const lon = Number((town.lon + faker.number.float({ min: -0.0185, max: 0.0185 })).toFixed(6));
    const streetNumber = faker.number.int({ min: 1, max: 180 });
    const street = faker.location.street();
    const crowKm = haversineMetres(lat, lon, OFFICE.lat, OFFICE.lon) / 1000;

    let commute: CommuteMode;
    if (implausible.has(i)) {
      commute = faker.helpers.arrayElement(['Marche/running', 'Vélo/Trottinette/Autres'] as const);
    } else if (crowKm < 3) {
      commute = faker.helpers.weightedArrayElement([
        { weight: 45, value: 'Marche/running' as const },
        { weight: 30, value: 'Vélo/Trottinette/Autres' as const },
        { weight: 15, value: 'Transports en commun' as const },
        { weight: 10, value: 'véhicule thermique/électrique' as const },
      ]);
    } else if (crowKm < 12) {
      commute = faker.helpers.weightedArrayElement([
        { weight: 8, value: 'Marche/running' as const },
        { weight: 35, value: 'Vélo/Trottinette/Autres' as const },
        { weight: 25, value: 'Transports en commun' as const },
        { weight: 32, value: 'véhicule thermique/électrique' as const },
      ]);
    } else {
      commute = faker.helpers.weightedArrayElement([
        { weight: 6, value: 'Vélo/Trottinette/Autres' as const },
        { weight: 30, value: 'Transports en commun' as const },
        { weight: 64, value: 'véhicule thermique/électrique' as const },
      ]);
    }

    const birth = faker.date.between({ from: '1962-01-01', to: '2003-12-31' });
    const earliestHire = new Date(Math.max(Date.UTC(birth.getUTCFullYear() + 20, 0, 1), Date.UTC(2004, 0, 1)));
    const hire = faker.date.between({ from: earliestHire, to: '2025-09-01' });
    const bu = faker.helpers.weightedArrayElement([
      { weight: 30, value: 'Ventes' },
      { weight: 15, value: 'Marketing' },
      { weight: 25, value: 'R&D' },
      { weight: 12, value: 'Support' },
      { weight: 7, value: 'Finance' },
      { weight: 5, value: 'Ressources humaines' },
      { weight: 3, value: 'Juridique' },
      { weight: 3, value: 'Direction' },
    ]);
    const buBase: Record<string, [number, number]> = {
      Ventes: [28_000, 60_000],
      Marketing: [30_000, 62_000],
      'R&D': [36_000, 72_000],
      Support: [25_000, 42_000],
      Finance: [34_000, 68_000],
      'Ressources humaines': [30_000, 58_000],
      Juridique: [40_000, 72_000],
      Direction: [65_000, 80_000],
    };
    const [lo, hi] = buBase[bu]!;
    const seniority = Math.min(1, (2026 - hire.getUTCFullYear()) / 20);
    const salary = Math.round((lo + (hi - lo) * (0.25 * faker.number.float() + 0.75 * seniority * faker.number.float({ min: 0.6, max: 1 }))) / 10) * 10;

    const employeeId = firstId + i;
    employees.push({
      employee_id: employeeId,
      last_name: lastName,
      first_name: firstName,
      birth_date: isoDate(birth),
      business_unit: bu,
      hire_date: isoDate(hire),
      gross_annual_salary_eur: i === missingSalary ? null : Math.min(80_000, Math.max(25_000, salary)),
      contract_type: faker.number.float() < 0.86 ? 'CDI' : 'CDD',
      paid_leave_days: faker.helpers.arrayElement([25, 25, 25, 27, 28, 30]),
      home_address: `${streetNumber} ${street}`,
      home_postcode: town.postcode,
      home_city: town.name,
      home_lat: lat,
      home_lon: lon,
      commute_mode: commute,
    });

    // About 60 % declare a sport; declared sportspeople are the regular ones.
    const declares = faker.number.float() < 0.6;
    const sport = declares ? faker.helpers.weightedArrayElement(DECLARED_SPORTS.map((s) => ({ value: s, weight: s === 'Runing' ? 6 : s === 'Randonnée' ? 4 : s === 'Natation' || s === 'Tennis' ? 3 : 1 }))) : null;
    if (sport) declaredSports.push({ employee_id: employeeId, sport });
    const perWeek = declares
      ? faker.helpers.weightedArrayElement([
          { weight: 20, value: faker.number.float({ min: 0.1, max: 0.3 }) },
          { weight: 45, value: faker.number.float({ min: 0.3, max: 1.5 }) },
          { weight: 35, value: faker.number.float({ min: 1.5, max: 4 }) },
        ])
      : faker.number.float() < 0.25
        ? faker.number.float({ min: 0.05, max: 0.6 })
        : 0;
    habits.push({
      employee_id: employeeId,
      activitiesPerWeek: Number(perWeek.toFixed(3)),
      mainSport: sport ?? faker.helpers.arrayElement(['Marche', 'Vélo', 'Runing']),
      secondarySport: faker.number.float() < 0.35 ? faker.helpers.arrayElement(['Marche', 'Vélo', 'Randonnée', 'Natation']) : null,
    });
  }
  return { employees, declaredSports, habits };
}

/** RFC 4180 CSV of `rows` with the given columns (header line first, CRLF-free). */
export function toCsv<T extends object>(rows: T[], columns: (keyof T & string)[]): string {
  const cell = (v: unknown) => {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}
