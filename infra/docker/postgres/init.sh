#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook of the postgres image: applies schemas/postgres/migrations
# (mounted at /migrations) at first start, with the same placeholders `npm run db:migrate` fills
# (scripts/lib/migrate.ts), and refuses physical replication to every role but the admin
# (docs/security.md): the CDC role cannot take a base backup.
# `npm run db:migrate` can run afterwards: every migration is idempotent.
set -euo pipefail
lit() { printf "'%s'" "${1//\'/\'\'}"; }
ident() { printf '"%s"' "${1//\"/\"\"}"; }
sed -i "1i host replication $POSTGRES_USER all scram-sha-256\nhost replication all all reject" "$PGDATA/pg_hba.conf"
args=()
for pair in "cdc_user:$CDC_DB_USER" "simulator_user:$SIMULATOR_DB_USER" "distance_user:$DISTANCE_DB_USER" \
            "notifier_user:$NOTIFIER_DB_USER" "monitor_user:$MONITOR_DB_USER" "app_user:sport_app" "publication:$CDC_PUBLICATION" "database:$POSTGRES_DB"; do
  name=${pair%%:*} value=${pair#*:}
  args+=(-e "s/{{${name}_literal}}/$(lit "$value")/g" -e "s/{{${name}}}/$(ident "$value")/g")
done
for pair in "cdc_password:$CDC_DB_PASSWORD" "simulator_password:$SIMULATOR_DB_PASSWORD" \
            "distance_password:$DISTANCE_DB_PASSWORD" "notifier_password:$NOTIFIER_DB_PASSWORD" \
            "monitor_password:$MONITOR_DB_PASSWORD"; do
  name=${pair%%:*} value=${pair#*:}
  args+=(-e "s/{{${name}}}/$(lit "$value")/g")
done
for f in /migrations/*.sql; do
  echo "applying $(basename "$f")"
  sed "${args[@]}" "$f" | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB"
done
