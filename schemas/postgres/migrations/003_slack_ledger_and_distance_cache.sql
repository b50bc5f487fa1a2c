-- Service state of the Slack notifier and the distance worker (not source data: these tables are
-- NOT in the CDC publication). Idempotent.

-- Idempotency ledger of the Slack notifier (docs/decisions/slack-notifier-idempotency-ledger.md):
-- one row per (target, activity); a row in a final status means "never announce this again", so
-- a restart, a re-delivery or a replay of the consumer group from offset zero posts nothing twice.
CREATE TABLE IF NOT EXISTS slack_announcements (
  -- 'slack' = real webhook posts; 'dry-run' = printed only, so a demo does not block real posts.
  target           text NOT NULL CHECK (target IN ('slack', 'dry-run')),
  activity_id      bigint NOT NULL,
  -- posting = claimed, outcome unknown until finished (a crash here re-posts: at-least-once).
  status           text NOT NULL CHECK (status IN ('posting', 'posted', 'dead_lettered')),
  reason           text,
  attempts         integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
  source_topic     text NOT NULL,
  source_partition integer NOT NULL,
  source_offset    bigint NOT NULL,
  source_lsn       bigint,
  committed_at     timestamptz,
  claimed_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  PRIMARY KEY (target, activity_id),
  CHECK ((status = 'posting') = (finished_at IS NULL))
);

-- Distance worker cache: one Google answer per normalised origin address and travel mode, so an
-- unchanged address (another employee at the same address, a replay, a restart) is not requested
-- again while the entry is younger than DISTANCE_CACHE_TTL_DAYS.
CREATE TABLE IF NOT EXISTS commute_distance_cache (
  address_key  text NOT NULL,
  travel_mode  text NOT NULL CHECK (travel_mode IN ('walking', 'bicycling', 'driving', 'transit')),
  -- Which Google API answered ('routes' | 'distance-matrix'); both write provider 'google' rows.
  api          text NOT NULL CHECK (api IN ('routes', 'distance-matrix')),
  status       text NOT NULL CHECK (status IN ('OK', 'NOT_FOUND', 'ZERO_RESULTS')),
  distance_m   integer CHECK (distance_m >= 0),
  duration_s   integer CHECK (duration_s >= 0),
  computed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (address_key, travel_mode),
  CHECK (status <> 'OK' OR distance_m IS NOT NULL)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON slack_announcements, commute_distance_cache TO {{app_user}};
