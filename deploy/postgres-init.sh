#!/bin/sh
# The line's database and its two logins (README "Database roles"), made once when
# compose.yaml's postgres starts on an empty volume (/docker-entrypoint-initdb.d).
# The owner owns the schema and runs the migrations; the web and scheduler processes log
# in as advice_line_web, a member of advice_line_app, which owns nothing.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$OWNER_PASSWORD" -v app_password="$APP_PASSWORD" <<'SQL'
CREATE ROLE advice_line_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE advice_line_app NOLOGIN;
CREATE ROLE advice_line_web LOGIN PASSWORD :'app_password' IN ROLE advice_line_app;
CREATE DATABASE advice_line OWNER advice_line_owner;
\connect advice_line
ALTER SCHEMA public OWNER TO advice_line_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
