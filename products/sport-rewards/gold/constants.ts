/**
 * Domain constants shared by the silver tests and the gold models (../shared/DOMAIN.md).
 */

/** Commute modes exactly as HR records them (schemas/postgres/migrations/001_source_tables.sql). */
export const COMMUTE_MODES = ['Transports en commun', 'véhicule thermique/électrique', 'Marche/running', 'Vélo/Trottinette/Autres'] as const;

/** Reason codes of the sport bonus decision (gold.sport_bonus.reason_code). */
export const BONUS_REASON_CODES = ['eligible', 'eligible_salary_missing', 'mode_not_eligible', 'distance_missing', 'distance_above_limit'] as const;

/** Kinds of row-level findings in gold.quality_findings. */
export const FINDING_TYPES = [
  'quarantined_row',
  'declared_commute_beyond_limit',
  'commute_distance_missing',
  'salary_missing_bonus',
  'salary_missing_wellbeing',
] as const;
