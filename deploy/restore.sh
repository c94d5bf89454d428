#!/bin/sh
# Restore a backup into an empty database: deploy/restore.sh BACKUP_FILE TARGET_DATABASE_URL
#
# The target must exist, be empty and be owned by the tables' owner role, and the roles
# the backup names (the owner, DATABASE_APP_ROLE) must exist on the server (see
# docs/OPERATIONS.md, "Restore"). Connect as that owner: the tables, the audit log's
# triggers and the grants to the app's role come back as they were. One transaction: a
# restore that fails leaves the target empty, never half-filled.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 BACKUP_FILE TARGET_DATABASE_URL" >&2
    exit 2
fi
file=$1
url=$(printf '%s' "$2" | sed 's#^postgresql+psycopg://#postgresql://#; s#^postgres://#postgresql://#')

tables=$(psql --no-password --tuples-only --no-align --dbname="$url" \
    --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != "0" ]; then
    echo "$0: the target database already has $tables tables; restore into an empty one" >&2
    exit 1
fi
pg_restore --exit-on-error --single-transaction --no-password --dbname="$url" "$file"
echo "restored $file"
