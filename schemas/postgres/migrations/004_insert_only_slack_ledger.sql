-- The Slack notifier's idempotency ledger becomes append-only (issue 15): the notifier may
-- INSERT and SELECT its rows, never UPDATE or DELETE them, so no application role can erase the
-- record of a post and make an announcement go out again (docs/decisions/0005, "Insert-only").
-- One row per event of an announcement: claimed (attempt n), then posted | dead_lettered
-- (final, at most one per announcement) or released (the attempt ended without an outcome
-- before a clean stop). The view slack_announcements shows the current state, as the table of
-- migration 003 did; its rows are carried over.

CREATE TABLE IF NOT EXISTS slack_announcement_log (
  -- 'slack' = real webhook posts; 'dry-run' = printed only.
  target           text NOT NULL CHECK (target IN ('slack', 'dry-run')),
  activity_id      bigint NOT NULL,
  attempt          integer NOT NULL CHECK (attempt >= 1),
  status           text NOT NULL CHECK (status IN ('claimed', 'posted', 'dead_lettered', 'released')),
  reason           text,
  source_topic     text,
  source_partition integer,
  source_offset    bigint,
  source_lsn       bigint,
  committed_at     timestamptz,
  recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (target, activity_id, attempt, status),
  CHECK ((status = 'claimed') = (source_topic IS NOT NULL))
);
-- At most one outcome per announcement: a second "posted" is refused by the database itself.
CREATE UNIQUE INDEX IF NOT EXISTS slack_announcement_log_one_outcome
  ON slack_announcement_log (target, activity_id) WHERE status IN ('posted', 'dead_lettered');

INSERT INTO slack_announcement_log (target, activity_id, attempt, status, source_topic, source_partition, source_offset, source_lsn, committed_at, recorded_at)
SELECT target, activity_id, attempts, 'claimed', source_topic, source_partition, source_offset, source_lsn, committed_at, claimed_at
  FROM slack_announcements;
INSERT INTO slack_announcement_log (target, activity_id, attempt, status, reason, recorded_at)
SELECT target, activity_id, attempts, status, reason, finished_at
  FROM slack_announcements WHERE status IN ('posted', 'dead_lettered');
DROP TABLE slack_announcements;

-- Current state per announcement, as migration 003's table showed it: 'posting' while an
-- attempt is open, attempts = claims since the last release.
CREATE VIEW slack_announcements AS
SELECT target, activity_id, status, reason, attempts, source_topic, source_partition, source_offset, source_lsn,
       committed_at, claimed_at, finished_at
  FROM (
    SELECT target, activity_id,
           CASE WHEN bool_or(status = 'posted') THEN 'posted'
                WHEN bool_or(status = 'dead_lettered') THEN 'dead_lettered'
                ELSE 'posting' END AS status,
           max(reason) AS reason,
           COALESCE(max(attempt) FILTER (WHERE status = 'claimed'), 0) - COALESCE(max(attempt) FILTER (WHERE status = 'released'), 0) AS attempts,
           (array_agg(source_topic ORDER BY attempt DESC) FILTER (WHERE status = 'claimed'))[1] AS source_topic,
           (array_agg(source_partition ORDER BY attempt DESC) FILTER (WHERE status = 'claimed'))[1] AS source_partition,
           (array_agg(source_offset ORDER BY attempt DESC) FILTER (WHERE status = 'claimed'))[1] AS source_offset,
           (array_agg(source_lsn ORDER BY attempt DESC) FILTER (WHERE status = 'claimed'))[1] AS source_lsn,
           (array_agg(committed_at ORDER BY attempt DESC) FILTER (WHERE status = 'claimed'))[1] AS committed_at,
           max(recorded_at) FILTER (WHERE status = 'claimed') AS claimed_at,
           max(recorded_at) FILTER (WHERE status IN ('posted', 'dead_lettered')) AS finished_at
      FROM slack_announcement_log
     GROUP BY target, activity_id
  ) s
 WHERE status <> 'posting' OR attempts > 0;
