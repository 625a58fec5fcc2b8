#!/bin/sh
# The official mariadb image's interface, in small: MARIADB_ROOT_PASSWORD, MARIADB_DATABASE,
# MARIADB_USER / MARIADB_PASSWORD, data in /var/lib/mysql, listens on 3306. Runs as `mysql`
# (the image's user: the data volume is created owned by it), so it needs no capability.
# An empty data directory is initialised once, with the passwords of the environment.
set -eu
DATADIR=/var/lib/mysql
# Written before initialising and removed once done: a first start that died half-way (out of
# memory, killed) is started over instead of leaving a database without its users.
PENDING="$DATADIR/.tenantry-initialising"

sql_string() {  # a MariaDB string literal
  printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"
}

sql_name() {  # a MariaDB identifier
  printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"
}

if [ -f "$PENDING" ]; then
  echo "tenantry-mariadb: a first initialisation did not finish; starting it over" >&2
  find "$DATADIR" -mindepth 1 -delete
fi
if [ ! -d "$DATADIR/mysql" ]; then
  : "${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD is required to initialise the database}"
  touch "$PENDING"
  mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >/dev/null
  {
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MARIADB_ROOT_PASSWORD");"
    # mariadb-install-db also makes root logins without a password for the loopback addresses
    # and the host name: only the socket's root, with the password, is kept.
    echo "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', $(sql_string "root")@$(sql_string "$(hostname)");"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MARIADB_DATABASE") CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    fi
    if [ -n "${MARIADB_USER:-}" ]; then
      : "${MARIADB_PASSWORD:?MARIADB_PASSWORD is required with MARIADB_USER}"
      echo "CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");"
      if [ -n "${MARIADB_DATABASE:-}" ]; then
        echo "GRANT ALL ON $(sql_name "$MARIADB_DATABASE").* TO $(sql_string "$MARIADB_USER")@'%';"
      fi
    fi
  } | mariadbd --bootstrap --datadir="$DATADIR" --skip-networking --log-warnings=0 >/dev/null
  rm -f "$PENDING"
  echo "tenantry-mariadb: initialised ${MARIADB_DATABASE:-(no database)}" >&2
fi
exec mariadbd --datadir="$DATADIR"
