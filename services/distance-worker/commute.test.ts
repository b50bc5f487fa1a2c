import { describe, expect, it } from 'vitest';
import { haversineMetres, normaliseAddress, offlineEstimate, originAddress, travelModeFor } from './commute.ts';

describe('travelModeFor', () => {
  it('maps the HR commute modes of DOMAIN.md', () => {
    expect(travelModeFor('Marche/running', 'compute')).toBe('walking');
    expect(travelModeFor('Vélo/Trottinette/Autres', 'compute')).toBe('bicycling');
    expect(travelModeFor('Transports en commun', 'compute')).toBe('transit');
    expect(travelModeFor('véhicule thermique/électrique', 'compute')).toBe('driving');
  });
  it('skips transit and car commuters only when configured, never walkers and cyclists', () => {
    expect(travelModeFor('Transports en commun', 'skip')).toBeNull();
    expect(travelModeFor('véhicule thermique/électrique', 'skip')).toBeNull();
    expect(travelModeFor('Marche/running', 'skip')).toBe('walking');
    expect(travelModeFor('Vélo/Trottinette/Autres', 'skip')).toBe('bicycling');
  });
  it('reports an unknown commute mode', () => {
    expect(travelModeFor('Téléportation', 'compute')).toBeUndefined();
  });
});

describe('addresses', () => {
  it('writes the origin on one line', () => {
    expect(originAddress({ home_address: ' 12 rue de la Loge ', home_postcode: '34000', home_city: 'Montpellier' })).toBe('12 rue de la Loge, 34000 Montpellier, France');
  });
  it('normalises spelling variants to one cache key', () => {
    expect(normaliseAddress("12 Av. de l'Église, 34000 MONTPELLIER")).toBe('12 avenue de l eglise 34000 montpellier');
    expect(normaliseAddress('12 avenue de l’eglise 34000 Montpellier')).toBe('12 avenue de l eglise 34000 montpellier');
    expect(normaliseAddress('3 Bd St-Jean,  34970 Lattes')).toBe('3 boulevard saint jean 34970 lattes');
    expect(normaliseAddress('3 rue A, 34000 X')).not.toBe(normaliseAddress('4 rue A, 34000 X'));
  });
});

describe('offline estimate', () => {
  it('computes great-circle distances', () => {
    // Paris (Notre-Dame) -> London (Charing Cross): about 343.5 km.
    expect(haversineMetres({ lat: 48.8530, lon: 2.3499 }, { lat: 51.5073, lon: -0.1276 }) / 1000).toBeCloseTo(343.5, 0);
    expect(haversineMetres({ lat: 43.567, lon: 3.899 }, { lat: 43.567, lon: 3.899 })).toBe(0);
  });
  it('multiplies by the detour factor and derives the duration from the mode speed', () => {
    const home = { lat: 43.6108, lon: 3.8767 };
    const office = { lat: 43.567, lon: 3.899 };
    const straight = haversineMetres(home, office);
    const walking = offlineEstimate(home, office, 'walking', 1.3);
    expect(walking.distance_m).toBe(Math.round(straight * 1.3));
    expect(walking.duration_s).toBe(Math.round(walking.distance_m / (5000 / 3600)));
    expect(offlineEstimate(home, office, 'bicycling', 1.3).duration_s).toBe(Math.round(walking.distance_m / (15000 / 3600)));
    expect(offlineEstimate(home, office, 'walking', 1).distance_m).toBe(Math.round(straight));
  });
});
