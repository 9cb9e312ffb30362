#!/bin/bash
# First start of the compose `warehouse` service (the postgres image runs the scripts in
# /docker-entrypoint-initdb.d once, on an empty volume, as its superuser): the pipeline's roles
# and ownership (sql/admin/bootstrap.sql), the owner's password, and the BI tool's login.
# Passwords are read from the environment inside psql (\getenv), never put on a command line.
set -euo pipefail
: "${WAREHOUSE_OWNER_PASSWORD:?set WAREHOUSE_OWNER_PASSWORD in .env}"
: "${METABASE_WAREHOUSE_PASSWORD:?set METABASE_WAREHOUSE_PASSWORD in .env}"

run_psql() {
    psql --no-psqlrc --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

run_psql --file "${SMARKETING_BOOTSTRAP_SQL:-/smarketing/bootstrap.sql}"
run_psql <<'SQL'
\getenv owner_password WAREHOUSE_OWNER_PASSWORD
\getenv metabase_password METABASE_WAREHOUSE_PASSWORD
set password_encryption = 'scram-sha-256';
alter role smarketing_owner password :'owner_password';
select not exists (select from pg_roles where rolname = 'metabase') as metabase_missing \gset
\if :metabase_missing
create role metabase login in role smarketing_bi;
\endif
alter role metabase password :'metabase_password';
SQL
