/**
 * The pure rules of the distance worker: which travel mode a commute mode is computed with,
 * how an address is normalised for the cache, and the offline estimate.
 *
 * Commute modes are the four HR values of DOMAIN.md. The sport-bonus rule only concerns walking
 * ("Marche/running", <= 15 km) and cycling ("Vélo/Trottinette/Autres", <= 25 km), which are
 * always computed. Public transport and car commuters are computed too (transit / driving) with
 * DISTANCE_OTHER_MODES=compute, the default, so the commute table describes everyone; with
 * `skip` they get no row (an existing one is deleted when someone switches to such a mode).
 */

export type TravelMode = 'walking' | 'bicycling' | 'driving' | 'transit';

/** HR commute mode -> travel mode; the key set is the CHECK constraint of `employees.commute_mode`. */
export const TRAVEL_MODE_OF_COMMUTE: Record<string, { mode: TravelMode; bonusRelevant: boolean }> = {
  'Marche/running': { mode: 'walking', bonusRelevant: true },
  'Vélo/Trottinette/Autres': { mode: 'bicycling', bonusRelevant: true },
  'Transports en commun': { mode: 'transit', bonusRelevant: false },
  'véhicule thermique/électrique': { mode: 'driving', bonusRelevant: false },
};

/**
 * @returns the travel mode to compute, `null` when the mode is skipped by configuration, or
 *   `undefined` when the commute mode is not one of the four HR values.
 */
export function travelModeFor(commuteMode: string, otherModes: 'compute' | 'skip'): TravelMode | null | undefined {
  const entry = TRAVEL_MODE_OF_COMMUTE[commuteMode];
  if (!entry) return undefined;
  if (!entry.bonusRelevant && otherModes === 'skip') return null;
  return entry.mode;
}

/** The home address as one line, the way it is sent to Google and stored as `origin_address`. */
export function originAddress(home: { home_address: string; home_postcode: string; home_city: string }): string {
  return `${home.home_address.trim()}, ${home.home_postcode.trim()} ${home.home_city.trim()}, France`;
}

const ABBREVIATIONS: Record<string, string> = {
  av: 'avenue',
  ave: 'avenue',
  bd: 'boulevard',
  bld: 'boulevard',
  bvd: 'boulevard',
  ch: 'chemin',
  chem: 'chemin',
  imp: 'impasse',
  pl: 'place',
  r: 'rue',
  rte: 'route',
  st: 'saint',
  ste: 'sainte',
  fg: 'faubourg',
  all: 'allee',
  sq: 'square',
  res: 'residence',
};

/**
 * Cache key of an address: lower case, accents and punctuation removed, spaces collapsed, the
 * common French street abbreviations expanded ("Av." = "avenue", "St" = "saint"), so that
 * spelling variants of one address share one cache entry.
 * "12 Av. de l'Église, 34000 MONTPELLIER" -> "12 avenue de l eglise 34000 montpellier"
 */
export function normaliseAddress(address: string): string {
  return address
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .map((word) => ABBREVIATIONS[word] ?? word)
    .join(' ');
}

/** Mean Earth radius (IUGG), metres. */
const EARTH_RADIUS_M = 6_371_008.8;

/** Great-circle (haversine) distance in metres between two WGS84 points in degrees. */
export function haversineMetres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Average door-to-door speeds of the offline estimate, km/h: walking 5 (Google's own walking
 * assumption), cycling 15 (urban cycling with stops), driving 35 (Montpellier metropolitan
 * traffic), transit 18 (tram + bus with waits and transfers).
 */
export const OFFLINE_SPEED_KMH: Record<TravelMode, number> = { walking: 5, bicycling: 15, driving: 35, transit: 18 };

/**
 * Offline estimate: great-circle distance times `detourFactor` (road networks are about 1.2-1.4
 * times longer than the straight line; 1.3 by default, DISTANCE_DETOUR_FACTOR), and a duration
 * from {@link OFFLINE_SPEED_KMH}.
 * @returns metres and seconds, rounded to integers.
 */
export function offlineEstimate(home: { lat: number; lon: number }, office: { lat: number; lon: number }, mode: TravelMode, detourFactor: number) {
  const distance_m = Math.round(haversineMetres(home, office) * detourFactor);
  const duration_s = Math.round(distance_m / ((OFFLINE_SPEED_KMH[mode] * 1000) / 3600));
  return { distance_m, duration_s };
}
