#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook of the postgres image: applies schemas/postgres/migrations
# (mounted at /migrations) at first start, with the same placeholders `npm run db:migrate` fills.
# `npm run db:migrate` can run afterwards: every migration is idempotent.
set -euo pipefail
lit() { printf "'%s'" "${1//\'/\'\'}"; }
ident() { printf '"%s"' "${1//\"/\"\"}"; }
for f in /migrations/*.sql; do
  echo "applying $(basename "$f")"
  sed -e "s/{{cdc_user_literal}}/$(lit "$CDC_DB_USER")/g" \
      -e "s/{{app_user_literal}}/$(lit "$APP_DB_USER")/g" \
      -e "s/{{publication_literal}}/$(lit "$CDC_PUBLICATION")/g" \
      -e "s/{{cdc_user}}/$(ident "$CDC_DB_USER")/g" \
      -e "s/{{app_user}}/$(ident "$APP_DB_USER")/g" \
      -e "s/{{publication}}/$(ident "$CDC_PUBLICATION")/g" \
      -e "s/{{database}}/$(ident "$POSTGRES_DB")/g" \
      -e "s/{{cdc_password}}/$(lit "$CDC_DB_PASSWORD")/g" \
      -e "s/{{app_password}}/$(lit "$APP_DB_PASSWORD")/g" \
      "$f" | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB"
done
