/**
 * Offline provider (no API key): great-circle distance from the data set's home coordinates
 * times the detour factor; provider "offline". An employee without coordinates gets NOT_FOUND.
 */
import { offlineEstimate } from '../commute.ts';
import type { DistanceProvider, DistanceRequest, DistanceResult } from './types.ts';

export class OfflineProvider implements DistanceProvider {
  readonly name = 'offline' as const;
  readonly provider = 'offline' as const;

  /**
   * @param office office coordinates (degrees).
   * @param detourFactor DISTANCE_DETOUR_FACTOR.
   */
  constructor(
    private readonly office: { lat: number; lon: number },
    private readonly detourFactor: number,
  ) {}

  async probe(): Promise<void> {}

  async compute(request: DistanceRequest): Promise<DistanceResult> {
    if (!request.originPoint) return { status: 'NOT_FOUND', distance_m: null, duration_s: null };
    return { status: 'OK', ...offlineEstimate(request.originPoint, this.office, request.mode, this.detourFactor) };
  }
}
