/**
 * Strava-like activity generation for the simulator, driven by each employee's habits
 * (scripts/lib/hr-data.ts): how often they practise, their declared sport, realistic
 * distances, speeds, durations and start times (weekday evenings, lunch breaks, weekend mornings).
 *
 * Pure and seeded: the same seed, habits and period give the same activities, with the same
 * `activity_id`s, so a history load can be re-run without duplicating rows. History ids live at
 * or above {@link HISTORY_ID_BASE}, far above the ids the database's identity column hands out
 * to live inserts, so the two never collide.
 */
import { Faker, base, fr } from '@faker-js/faker';
import type { SportHabit } from './hr-data.ts';

export const HISTORY_ID_BASE = 1_000_000_000_000;

export interface SimulatedActivity {
  activity_id?: number;
  employee_id: number;
  sport_type: string;
  started_at: Date;
  ended_at: Date;
  /** Seconds. */
  elapsed_seconds: number;
  /** Metres, or null for sports without a distance. */
  distance_m: number | null;
  comment: string | null;
  source: string;
}

interface SportProfile {
  /** Distance range in km, or null for sports measured by time only. */
  km: [number, number] | null;
  /** Speed range in km/h for distance sports. */
  kmh?: [number, number];
  /** Duration range in minutes for time-only sports. */
  minutes?: [number, number];
}

/** Ranges per sport type; unknown types get a generic 30-90 min session. */
export const SPORT_PROFILES: Record<string, SportProfile> = {
  Runing: { km: [4, 21], kmh: [8.5, 14] },
  Randonnée: { km: [6, 22], kmh: [3.5, 5.2] },
  Natation: { km: [0.8, 3.5], kmh: [2, 3.6] },
  Triathlon: { km: [25.75, 51.5], kmh: [14, 22] },
  Vélo: { km: [12, 80], kmh: [16, 30] },
  Marche: { km: [3, 10], kmh: [4.2, 6] },
  Tennis: { km: null, minutes: [45, 120] },
  Football: { km: null, minutes: [60, 110] },
  Rugby: { km: null, minutes: [60, 110] },
  Badminton: { km: null, minutes: [45, 90] },
  Voile: { km: null, minutes: [90, 240] },
  Judo: { km: null, minutes: [60, 100] },
  Boxe: { km: null, minutes: [45, 90] },
  Escalade: { km: null, minutes: [60, 150] },
  Équitation: { km: null, minutes: [45, 120] },
  'Tennis de table': { km: null, minutes: [45, 100] },
  Basketball: { km: null, minutes: [60, 110] },
};

const COMMENTS = [
  'Belle sortie !',
  'Reprise après une semaine de pause',
  'Avec les collègues de l’équipe',
  'Il faisait chaud aujourd’hui',
  'Nouveau record personnel',
  'Sous la pluie, mais content',
  'Séance tranquille',
  'Préparation du semi de Montpellier',
  'Vent de face au retour…',
  'Superbe lever de soleil',
  'Dur dur après le week-end',
  'Sortie découverte autour du Pic Saint-Loup',
];

/** Builds one activity of `sport` starting at `start`, with ranges from {@link SPORT_PROFILES}. */
export function makeActivity(faker: Faker, employeeId: number, sport: string, start: Date, source: string): SimulatedActivity {
  const profile = SPORT_PROFILES[sport] ?? { km: null, minutes: [30, 90] };
  let seconds: number;
  let distance: number | null = null;
  if (profile.km && profile.kmh) {
    const km = faker.number.float({ min: profile.km[0], max: profile.km[1] });
    const kmh = faker.number.float({ min: profile.kmh[0], max: profile.kmh[1] });
    distance = Math.round(km * 1000);
    seconds = Math.round((km / kmh) * 3600);
  } else {
    const [lo, hi] = profile.minutes ?? [30, 90];
    seconds = Math.round(faker.number.float({ min: lo, max: hi }) * 60);
  }
  const end = new Date(start.getTime() + seconds * 1000);
  return {
    employee_id: employeeId,
    sport_type: sport,
    started_at: start,
    ended_at: end,
    elapsed_seconds: seconds,
    distance_m: distance,
    comment: faker.number.float() < 0.3 ? faker.helpers.arrayElement(COMMENTS) : null,
    source,
  };
}

/** A plausible local start time on `day` (UTC date at midnight): evening, lunch or weekend morning. */
function startTimeOn(faker: Faker, day: Date): Date {
  const weekend = day.getUTCDay() === 0 || day.getUTCDay() === 6;
  const hour = weekend
    ? faker.helpers.weightedArrayElement([{ weight: 6, value: 8 }, { weight: 6, value: 9 }, { weight: 4, value: 10 }, { weight: 3, value: 16 }, { weight: 2, value: 17 }])
    : faker.helpers.weightedArrayElement([{ weight: 2, value: 6 }, { weight: 3, value: 11 }, { weight: 3, value: 16 }, { weight: 6, value: 17 }, { weight: 4, value: 18 }]);
  // Hours are local (Europe/Paris), stored as UTC: subtract one hour, a fair approximation.
  return new Date(day.getTime() + (hour - 1) * 3_600_000 + faker.number.int({ min: 0, max: 59 }) * 60_000 + faker.number.int({ min: 0, max: 59 }) * 1000);
}

/** Picks the sport of one session: mostly the main sport, sometimes the secondary one. */
function sportOf(faker: Faker, habit: SportHabit): string {
  return habit.secondarySport && faker.number.float() < 0.2 ? habit.secondarySport : habit.mainSport;
}

/**
 * Generates the activity history of every employee over `days` whole days ending at `endDay`
 * (exclusive, a UTC midnight). The number of sessions per day follows each habit's weekly rate,
 * with seasonal variation (fewer in winter, more in spring).
 * @returns activities ordered by start time, each with a deterministic activity_id.
 */
export function generateHistory(habits: SportHabit[], options: { seed: number; endDay: Date; days: number }): SimulatedActivity[] {
  const out: SimulatedActivity[] = [];
  for (const habit of habits) {
    if (habit.activitiesPerWeek <= 0) continue;
    // One PRNG per employee, so adding employees never changes another one's history.
    const faker = new Faker({ locale: [fr, base] });
    faker.seed([options.seed, habit.employee_id]);
    let index = 0;
    for (let d = options.days; d >= 1; d--) {
      const day = new Date(options.endDay.getTime() - d * 86_400_000);
      const month = day.getUTCMonth();
      const season = [0.7, 0.75, 0.95, 1.15, 1.25, 1.2, 1.05, 0.85, 1.15, 1.05, 0.85, 0.7][month]!;
      if (faker.number.float() < (habit.activitiesPerWeek / 7) * season) {
        const activity = makeActivity(faker, habit.employee_id, sportOf(faker, habit), startTimeOn(faker, day), 'simulator-history');
        activity.activity_id = HISTORY_ID_BASE + habit.employee_id * 100_000 + index++;
        out.push(activity);
      }
    }
  }
  return out.sort((a, b) => a.started_at.getTime() - b.started_at.getTime() || a.activity_id! - b.activity_id!);
}

/**
 * One live activity that just ended at `now`, for an employee drawn in proportion to their habit.
 * @throws Error when no employee practises any sport.
 */
export function generateLiveActivity(faker: Faker, habits: SportHabit[], now: Date): SimulatedActivity {
  const active = habits.filter((h) => h.activitiesPerWeek > 0);
  if (active.length === 0) throw new Error('no employee has a sport habit: run `npm run db:seed` first');
  const habit = faker.helpers.weightedArrayElement(active.map((h) => ({ weight: h.activitiesPerWeek, value: h })));
  const draft = makeActivity(faker, habit.employee_id, sportOf(faker, habit), now, 'simulator-live');
  // The activity has just finished: shift it so that it ends now.
  const shift = draft.ended_at.getTime() - now.getTime();
  return { ...draft, started_at: new Date(draft.started_at.getTime() - shift), ended_at: now };
}

/** A new comment for an edited activity. */
export function editedComment(faker: Faker): string {
  return `${faker.helpers.arrayElement(COMMENTS)} (modifié)`;
}

export function newFaker(seed: number): Faker {
  return new Faker({ locale: [fr, base], seed });
}
