#!/bin/sh
# Back up the Advice Line database: deploy/backup.sh OWNER_DATABASE_URL BACKUP_FILE
#
# A pg_dump in custom format (compressed; pg_restore can list and pick from it) of the
# whole database: schema, data, grants, the audit log's triggers, alembic_version. Run
# it as the tables' owner (the app's role may not read alembic_version). The file holds
# special-category health data: it is written readable by its owner only, and must be
# kept encrypted and access-controlled (docs/OPERATIONS.md, "Backups").
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 OWNER_DATABASE_URL BACKUP_FILE" >&2
    exit 2
fi
# libpq does not know SQLAlchemy's driver suffix.
url=$(printf '%s' "$1" | sed 's#^postgresql+psycopg://#postgresql://#; s#^postgres://#postgresql://#')
file=$2
partial="$file.partial"

umask 077
pg_dump --format=custom --no-password --file="$partial" "$url"
# A dump that pg_restore cannot read is no backup: list its contents before keeping it.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$file"
echo "backed up to $file ($(wc -c <"$file") bytes)"
