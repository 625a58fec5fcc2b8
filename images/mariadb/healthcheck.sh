#!/bin/sh
# The official image's `healthcheck.sh --connect --innodb_initialized`, in small: healthy when the
# server accepts the root login on its socket and InnoDB is up (flags are accepted and implied).
set -eu
MYSQL_PWD=${MARIADB_ROOT_PASSWORD:-} mariadb --protocol=socket -uroot --batch --skip-column-names -e \
  "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')" \
  | grep -qx 1
