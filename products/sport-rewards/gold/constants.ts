/**
 * Domain constants shared by the rules validation, the silver tests and the gold models
 * (../shared/DOMAIN.md).
 */

/** Commute modes exactly as HR records them (schemas/postgres/migrations/001_source_tables.sql). */
export const COMMUTE_MODES = ['Transports en commun', 'véhicule thermique/électrique', 'Marche/running', 'Vélo/Trottinette/Autres'] as const;

/**
 * Sport types the product knows, exactly as the source spells them: the sports HR records as
 * declared sports (DOMAIN.md; "Runing" is HR's own spelling) and the activity types of the
 * Strava-like feed (scripts/lib/activity-sim.ts). A rules file may name these, or any sport found
 * in the source's reference data (declared sports, activity types in silver).
 */
export const SPORT_TYPES = [
  'Runing',
  'Randonnée',
  'Tennis',
  'Natation',
  'Football',
  'Rugby',
  'Badminton',
  'Voile',
  'Judo',
  'Boxe',
  'Escalade',
  'Triathlon',
  'Équitation',
  'Tennis de table',
  'Basketball',
  'Marche',
  'Vélo',
] as const;

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
