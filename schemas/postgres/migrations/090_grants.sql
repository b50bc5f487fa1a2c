-- repeatable: applied on every `npm run db:migrate`, after every table exists.
-- What each job role may do, and nothing more (docs/security.md). Every privilege of the job
-- roles in schema public is revoked first, then granted back per job, in one transaction: a
-- grant removed from this file is gone after the next run.

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {{simulator_user}}, {{distance_user}}, {{notifier_user}}, {{monitor_user}}, {{app_user}};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {{cdc_user}}, {{simulator_user}}, {{distance_user}}, {{notifier_user}}, {{monitor_user}}, {{app_user}};
-- The CDC role keeps SELECT on what the publication carries (a table added to the capture by
-- CDC_ADMIN_SETUP or prepare-source included) and loses every other table privilege.
DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND NOT EXISTS (SELECT 1 FROM pg_publication_tables p
                               WHERE p.pubname = {{publication_literal}} AND p.schemaname = n.nspname AND p.tablename = c.relname)
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM %I', t.rel, {{cdc_user_literal}});
  END LOOP;
END
$$;
REVOKE ALL ON SCHEMA public FROM {{app_user}};
GRANT USAGE ON SCHEMA public TO {{cdc_user}}, {{simulator_user}}, {{distance_user}}, {{notifier_user}};

-- CDC (services/cdc): SELECT on the published tables for the snapshot, salaries included: the
-- sport product computes the bonus from them in the lake, and they never leave the lakehouse
-- (no Slack message, no HTTP figure below the minimum group size). Another database keeps
-- columns out with prepare-source --exclude-columns.
GRANT SELECT ON employees, declared_sports, activities, commute_distances TO {{cdc_user}};

-- Simulator (scripts/simulate.ts): which employees exist and what sport they declared; writes
-- activities (inserts, comment edits, deletes). No name, salary, address or birth date.
GRANT SELECT (employee_id) ON employees TO {{simulator_user}};
GRANT SELECT (employee_id, sport) ON declared_sports TO {{simulator_user}};
GRANT SELECT, INSERT, DELETE ON activities TO {{simulator_user}};
GRANT UPDATE (comment, updated_at) ON activities TO {{simulator_user}};
GRANT USAGE ON SEQUENCE activities_activity_id_seq TO {{simulator_user}};

-- Distance worker (services/distance-worker): its job is the home-to-office distance, so it
-- reads the home address, its coordinates and the commute mode; no name, salary or birth date.
-- It writes commute_distances (captured again by CDC) and its own cache.
GRANT SELECT (employee_id, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode) ON employees TO {{distance_user}};
GRANT SELECT, INSERT, UPDATE, DELETE ON commute_distances TO {{distance_user}};
GRANT SELECT, INSERT, UPDATE ON commute_distance_cache TO {{distance_user}};

-- Slack notifier (services/slack-notifier): the employee's name for the message, nothing else;
-- its ledger is insert-only (no UPDATE, no DELETE) and no other role sees it.
GRANT SELECT (employee_id, first_name, last_name) ON employees TO {{notifier_user}};
GRANT SELECT, INSERT ON slack_announcement_log TO {{notifier_user}};

-- Monitor and `lakehouse status` (services/monitor, services/common/pipeline-status.ts): the
-- replication slot's state and lag (pg_replication_slots, pg_current_wal_lsn(): readable by every
-- role). No table at all, and no REPLICATION: a leaked monitor password reads no HR data.
