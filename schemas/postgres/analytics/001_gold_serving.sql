-- repeatable: applied by `npm run db:migrate` to the analytics database (GOLD_PG_DATABASE), when
-- GOLD_PG_ENABLED. Gold served from PostgreSQL for BI tools (services/batch/pg-publish.ts,
-- docs/powerbi.md). The roles are created by ../migrations/005_gold_serving_roles.sql.
--
-- Nothing is granted to PUBLIC: only the publisher and the BI role connect. The publisher may
-- create schemas (it builds `<schema>__next` and `<schema>_store__next`, then swaps them in) and
-- owns what it creates; each publish grants the BI role USAGE on the view schema and SELECT on
-- its views, never on `<schema>_store` (the rows, salaries included). The BI role cannot create
-- anything, not even temporary tables.

REVOKE ALL ON DATABASE {{analytics_database}} FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, CREATE ON DATABASE {{analytics_database}} TO {{publisher_user}};
GRANT CONNECT ON DATABASE {{analytics_database}} TO {{bi_reader_user}};
REVOKE CREATE, TEMPORARY ON DATABASE {{analytics_database}} FROM {{bi_reader_user}};
