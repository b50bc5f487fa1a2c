/**
 * French number formatting for the announcements (DOMAIN.md, "Slack announcements": "10,8 km",
 * "46 min", "1 h 05"). Pure.
 */

const oneDecimal = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 });
const integer = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 0 });

/**
 * A distance for humans.
 * @param metres distance in metres (>= 0).
 * @returns under 1 km, metres rounded to 10 m ("850 m"); from 1 km, kilometres with at most one
 *   decimal and a decimal comma ("10,8 km", "10 km", "1 234,5 km" with a narrow no-break space).
 */
export function formatDistance(metres: number): string {
  if (metres < 995) return `${integer.format(Math.round(metres / 10) * 10)} m`;
  return `${oneDecimal.format(Math.round(metres / 100) / 10)} km`;
}

/**
 * A duration for humans.
 * @param seconds duration in seconds (>= 0).
 * @returns "45 s" under a minute; "46 min" under an hour; "1 h 05" / "2 h" from one hour
 *   (minutes rounded to the nearest minute, two digits after "h").
 */
export function formatDuration(seconds: number): string {
  if (seconds < 59.5) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${String(rest).padStart(2, '0')}`;
}

/**
 * French elision of "de" before a vowel or a mute h: "de tennis", "d’escalade", "d’équitation",
 * but "de handball".
 * @param noun the noun that follows, as displayed.
 */
export function deNoun(noun: string): string {
  // Most sport names in "h" take an aspirated h ("de handball", "de hockey"); the few mute ones elide.
  return /^([aeiouyàâäéèêëîïôöùûü]|halt|hipp)/i.test(noun) ? `d’${noun}` : `de ${noun}`;
}
