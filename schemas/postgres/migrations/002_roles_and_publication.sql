-- repeatable: applied on every `npm run db:migrate` (role passwords follow .env).
-- One PostgreSQL role per job (docs/security.md) and the CDC publication. What each role may
-- read and write is granted in 090_grants.sql, which runs after every table exists.
-- Double-brace placeholders are filled by the migration runner from configuration:
-- identifiers are quoted, passwords are passed as literals and never logged.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{cdc_user_literal}}) THEN
    CREATE ROLE {{cdc_user}} LOGIN REPLICATION;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{simulator_user_literal}}) THEN
    CREATE ROLE {{simulator_user}} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{distance_user_literal}}) THEN
    CREATE ROLE {{distance_user}} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{notifier_user_literal}}) THEN
    CREATE ROLE {{notifier_user}} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{monitor_user_literal}}) THEN
    CREATE ROLE {{monitor_user}} LOGIN;
  END IF;
END
$$;

-- Re-applied on every run, so rotating a password is: change .env, run db:migrate.
-- REPLICATION is what logical replication needs; pg_hba.conf refuses the CDC role's physical
-- replication connections (scripts/lib/stack.ts), so it cannot take a base backup.
ALTER ROLE {{cdc_user}} WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {{cdc_password}};
ALTER ROLE {{simulator_user}} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {{simulator_password}};
ALTER ROLE {{distance_user}} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {{distance_password}};
ALTER ROLE {{notifier_user}} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {{notifier_password}};
ALTER ROLE {{monitor_user}} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {{monitor_password}};

-- Only the job roles (and the admin) connect to the database; nothing is granted to PUBLIC.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE {{database}} FROM PUBLIC;
GRANT CONNECT ON DATABASE {{database}} TO {{cdc_user}}, {{simulator_user}}, {{distance_user}}, {{notifier_user}}, {{monitor_user}};

-- The broad application role of earlier versions ({{app_user}}, APP_DB_USER) no longer logs in.
-- Migration 003 (applied before this split, so left unchanged) still grants it the ledger and
-- the cache; 090_grants.sql revokes every privilege it has.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{app_user_literal}}) THEN
    CREATE ROLE {{app_user}} NOLOGIN;
  END IF;
END
$$;
ALTER ROLE {{app_user}} WITH NOLOGIN;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {{publication_literal}}) THEN
    CREATE PUBLICATION {{publication}}
      FOR TABLE employees, declared_sports, activities, commute_distances
      WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);
  END IF;
END
$$;
