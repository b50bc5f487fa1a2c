/**
 * The French announcement of one new activity (DOMAIN.md, "Slack announcements"), as a Slack
 * incoming-webhook payload: Block Kit `blocks` plus a plain `text` fallback, which Slack shows in
 * notifications and clients that cannot render blocks (Slack docs, "Using Block Kit with
 * incoming webhooks").
 *
 * It names the employee and describes the activity (sport, distance, duration, comment) and
 * carries no other HR data. The wording varies by sport type; among a sport's variants the
 * choice is a function of the activity id, so a retried or replayed post is byte-identical.
 * Pure.
 */
import { deNoun, formatDistance, formatDuration } from './french-format.ts';

/** The fields of an `activities` row the announcement uses (Debezium JSON rendering). */
export interface ActivityFacts {
  activity_id: number;
  employee_id: number;
  sport_type: string;
  /** Seconds. */
  elapsed_seconds: number;
  /** Metres; null for sports without a distance. */
  distance_m: number | null;
  comment: string | null;
}

export interface EmployeeName {
  firstName: string;
  lastName: string;
}

/** Block Kit blocks used here (the subset of @slack/types' KnownBlock we emit). */
export type AnnouncementBlock =
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

/** An incoming-webhook payload. */
export interface Announcement {
  text: string;
  blocks: AnnouncementBlock[];
}

/** Longest comment quoted; longer ones are cut with an ellipsis. */
export const MAX_COMMENT_CHARS = 280;

interface Words {
  name: string;
  distance: string | null;
  duration: string;
  sport: string;
}

type Template = (w: Words & { distance: string }) => string;
type TimeTemplate = (w: Words) => string;

interface SportStyle {
  /** Variants for an activity with a distance. */
  withDistance: Template[];
  /** Variants without one (time-only sports, or a distance sport logged without GPS). */
  timeOnly: TimeTemplate[];
}

/** Noun and emoji of the time-only sports of DOMAIN.md. */
const TIME_SPORTS: Record<string, { noun: string; emoji: string }> = {
  tennis: { noun: 'tennis', emoji: '🎾' },
  'tennis de table': { noun: 'tennis de table', emoji: '🏓' },
  'ping pong': { noun: 'ping-pong', emoji: '🏓' },
  football: { noun: 'football', emoji: '⚽' },
  foot: { noun: 'football', emoji: '⚽' },
  rugby: { noun: 'rugby', emoji: '🏉' },
  badminton: { noun: 'badminton', emoji: '🏸' },
  voile: { noun: 'voile', emoji: '⛵' },
  judo: { noun: 'judo', emoji: '🥋' },
  boxe: { noun: 'boxe', emoji: '🥊' },
  escalade: { noun: 'escalade', emoji: '🧗' },
  equitation: { noun: 'équitation', emoji: '🏇' },
  basketball: { noun: 'basket', emoji: '🏀' },
  basket: { noun: 'basket', emoji: '🏀' },
  handball: { noun: 'handball', emoji: '🤾' },
  yoga: { noun: 'yoga', emoji: '🧘' },
};

const STYLES: Record<string, SportStyle> = {
  running: {
    withDistance: [
      (w) => `Bravo ${w.name} ! Tu viens de courir ${w.distance} en ${w.duration} ! Quelle énergie ! 🔥🏅`,
      (w) => `Belle foulée ${w.name} ! ${w.distance} de course à pied en ${w.duration} ! 🏃`,
    ],
    timeOnly: [(w) => `Bravo ${w.name} ! ${w.duration} de course à pied ! Quelle énergie ! 🔥`],
  },
  hiking: {
    withDistance: [
      (w) => `Magnifique ${w.name} ! Une randonnée de ${w.distance} terminée ! 🏕`,
      (w) => `Quelle balade ${w.name} ! ${w.distance} de randonnée en ${w.duration} ! 🥾`,
    ],
    timeOnly: [(w) => `Magnifique ${w.name} ! ${w.duration} de randonnée ! 🏕`],
  },
  cycling: {
    withDistance: [
      (w) => `Chapeau ${w.name} ! ${w.distance} à vélo en ${w.duration} ! 🚴`,
      (w) => `En selle ${w.name} ! Une sortie vélo de ${w.distance} bouclée en ${w.duration} ! 🚴‍♀️`,
    ],
    timeOnly: [(w) => `Chapeau ${w.name} ! ${w.duration} de vélo ! 🚴`],
  },
  swimming: {
    withDistance: [
      (w) => `Splendide ${w.name} ! ${w.distance} de natation en ${w.duration} ! 🏊`,
      (w) => `Quelle nage, ${w.name} ! ${w.distance} avalés en ${w.duration} ! 🌊`,
    ],
    timeOnly: [(w) => `Splendide ${w.name} ! ${w.duration} de natation ! 🏊`],
  },
  walking: {
    withDistance: [(w) => `Bravo ${w.name} ! ${w.distance} de marche en ${w.duration} ! 🚶`],
    timeOnly: [(w) => `Bravo ${w.name} ! ${w.duration} de marche ! 🚶`],
  },
  triathlon: {
    withDistance: [(w) => `Respect ${w.name} ! Un triathlon de ${w.distance} bouclé en ${w.duration} ! 🏊🚴🏃`],
    timeOnly: [(w) => `Respect ${w.name} ! ${w.duration} de triathlon ! 🏊🚴🏃`],
  },
};

const SPORT_FAMILY: Record<string, keyof typeof STYLES> = {
  runing: 'running',
  running: 'running',
  course: 'running',
  'course a pied': 'running',
  jogging: 'running',
  trail: 'running',
  randonnee: 'hiking',
  rando: 'hiking',
  velo: 'cycling',
  cyclisme: 'cycling',
  vtt: 'cycling',
  natation: 'swimming',
  marche: 'walking',
  'marche nordique': 'walking',
  triathlon: 'triathlon',
};

/** Lower case, accents removed, punctuation as spaces: "Équitation" -> "equitation". */
export function sportKey(sportType: string): string {
  return sportType
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/** Escapes the three characters Slack mrkdwn reserves (Slack docs, "Escaping text"). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One line, trimmed, at most {@link MAX_COMMENT_CHARS} characters. */
export function cleanComment(comment: string | null): string | null {
  if (comment === null) return null;
  const oneLine = comment.replace(/\s+/g, ' ').trim();
  if (oneLine.length === 0) return null;
  const chars = [...oneLine];
  return chars.length <= MAX_COMMENT_CHARS ? oneLine : `${chars.slice(0, MAX_COMMENT_CHARS - 1).join('').trimEnd()}…`;
}

function pick<T>(variants: T[], activityId: number): T {
  return variants[Math.abs(activityId) % variants.length] as T;
}

/** The headline sentence, unescaped. */
export function headline(activity: ActivityFacts, employee: EmployeeName): string {
  const name = `${employee.firstName} ${employee.lastName}`.trim();
  const duration = formatDuration(activity.elapsed_seconds);
  const distance = activity.distance_m !== null && activity.distance_m > 0 ? formatDistance(activity.distance_m) : null;
  const key = sportKey(activity.sport_type);
  const family = SPORT_FAMILY[key];
  const sport = activity.sport_type.trim();
  if (family) {
    const style = STYLES[family] as SportStyle;
    const words = { name, duration, sport };
    return distance ? pick(style.withDistance, activity.activity_id)({ ...words, distance }) : pick(style.timeOnly, activity.activity_id)({ ...words, distance });
  }
  const timeSport = TIME_SPORTS[key];
  if (timeSport) {
    const variants: TimeTemplate[] = [
      (w) => `Bien joué ${w.name} ! ${w.duration} ${deNoun(timeSport.noun)} ! ${timeSport.emoji}`,
      (w) => `Belle séance ${deNoun(timeSport.noun)} pour ${w.name} : ${w.duration} ! ${timeSport.emoji}`,
    ];
    return pick(variants, activity.activity_id)({ name, duration, distance, sport });
  }
  return distance
    ? `Bravo ${name} ! ${sport} : ${distance} en ${duration} ! 💪`
    : `Bravo ${name} ! Une séance ${deNoun(sport)} de ${duration} ! 💪`;
}

/**
 * Builds the webhook payload.
 * @param activity the new activity (distance in metres, duration in seconds).
 * @param employee first and last name, the only employee data announced.
 * @returns `text` = headline (+ quoted comment on a second line) and the same content as blocks:
 *   a `section` with the headline, then a `context` with the comment in French quotes « ».
 */
export function buildAnnouncement(activity: ActivityFacts, employee: EmployeeName): Announcement {
  const title = escapeMrkdwn(headline(activity, employee));
  const comment = cleanComment(activity.comment);
  const quoted = comment === null ? null : `« ${escapeMrkdwn(comment)} »`;
  const blocks: AnnouncementBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: title } }];
  if (quoted) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `💬 ${quoted}` }] });
  return { text: quoted ? `${title}\n${quoted}` : title, blocks };
}
