#!/bin/sh
# The official postgres image's interface, in small: POSTGRES_USER / POSTGRES_PASSWORD /
# POSTGRES_DB, data in $PGDATA, listens on 5432. Initialises an empty data directory once.
set -eu
PGBIN=/usr/lib/postgresql/15/bin
PGDATA=${PGDATA:-/var/lib/postgresql/data}
USER_NAME=${POSTGRES_USER:-postgres}
DB_NAME=${POSTGRES_DB:-$USER_NAME}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  "$PGBIN/initdb" -D "$PGDATA" -U "$USER_NAME" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$DB_NAME" != "postgres" ]; then
    echo "CREATE DATABASE \"$DB_NAME\" OWNER \"$USER_NAME\";" | "$PGBIN/postgres" --single -D "$PGDATA" postgres >/dev/null
  fi
fi
exec "$PGBIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
