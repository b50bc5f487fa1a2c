-- repeatable: applied on every `npm run db:migrate` (role passwords follow .env).
-- The two roles of gold served from PostgreSQL (docs/powerbi.md, docs/security.md), created
-- here like the job roles of 002. They have nothing in this database: what they may do in the
-- analytics database (GOLD_PG_DATABASE) is granted by schemas/postgres/analytics/*.sql, which
-- the migration runner applies there.
-- - {{publisher_user}} (GOLD_PUBLISHER_DB_USER): the batch's publisher; CREATE on the analytics
--   database, owns the schemas it publishes; no other privilege.
-- - {{bi_reader_user}} (BI_READER_DB_USER): Power BI and other BI tools; reads the gold views
--   of the analytics database, read-only by default, nothing else.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{publisher_user_literal}}) THEN
    CREATE ROLE {{publisher_user}} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{bi_reader_user_literal}}) THEN
    CREATE ROLE {{bi_reader_user}} LOGIN;
  END IF;
END
$$;

ALTER ROLE {{publisher_user}} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {{publisher_password}};
ALTER ROLE {{bi_reader_user}} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {{bi_reader_password}};
-- Every session of the BI role is read-only unless it says otherwise; its privileges (SELECT on
-- views only) are what actually keeps it from writing.
ALTER ROLE {{bi_reader_user}} SET default_transaction_read_only = on;
