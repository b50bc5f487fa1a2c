-- repeatable: applied on every `npm run db:migrate` (role passwords follow .env).
-- Least-privilege roles and the CDC publication.
-- Double-brace placeholders are filled by the migration runner from configuration:
-- identifiers are quoted, passwords are passed as literals and never logged.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{cdc_user_literal}}) THEN
    CREATE ROLE {{cdc_user}} LOGIN REPLICATION;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{app_user_literal}}) THEN
    CREATE ROLE {{app_user}} LOGIN;
  END IF;
END
$$;

-- Re-applied on every run, so rotating a password is: change .env, run db:migrate.
ALTER ROLE {{cdc_user}} WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {{cdc_password}};
ALTER ROLE {{app_user}} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {{app_password}};

-- The CDC role reads the published tables and nothing else.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {{cdc_user}}, {{app_user}};
GRANT CONNECT ON DATABASE {{database}} TO {{cdc_user}}, {{app_user}};
GRANT SELECT ON employees, declared_sports, activities, commute_distances TO {{cdc_user}};

-- The application role: the simulator writes activities, the distance worker commute rows.
GRANT SELECT ON employees, declared_sports TO {{app_user}};
GRANT SELECT, INSERT, UPDATE, DELETE ON activities, commute_distances TO {{app_user}};
GRANT USAGE ON SEQUENCE activities_activity_id_seq TO {{app_user}};

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {{publication_literal}}) THEN
    CREATE PUBLICATION {{publication}}
      FOR TABLE employees, declared_sports, activities, commute_distances
      WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);
  END IF;
END
$$;
