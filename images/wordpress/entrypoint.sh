#!/bin/bash
# Starts PHP (php-fpm) and the web server (nginx) and lives as long as both do: if either
# exits, the other is stopped and the container exits, for its restart policy to start it over.
# Started as root to bind port 80 and to own the volume; both serve as www-data.
set -euo pipefail
CONTENT=/var/www/html/wp-content
mkdir -p /run/tenantry-wordpress
# PHP's uploads and sessions go to the /tmp tmpfs, which Docker gives back root-owned 0755 after a
# restart: open it to www-data again, as /tmp always is.
chmod 1777 /tmp
# The volume holds what the site writes. WordPress's bundled themes and plugins stay in the
# image (linked, as Debian's own /var/lib/wordpress/wp-content does), so an image update
# brings their new versions.
mkdir -p "$CONTENT/themes" "$CONTENT/plugins" "$CONTENT/uploads" "$CONTENT/languages" "$CONTENT/upgrade"
for kind in themes plugins; do
  for bundled in /usr/share/wordpress/wp-content/"$kind"/*/; do
    [ -d "$bundled" ] || continue
    link="$CONTENT/$kind/$(basename "$bundled")"
    [ -e "$link" ] || [ -L "$link" ] || ln -s "${bundled%/}" "$link"
  done
done
chown www-data:www-data /var/www/html "$CONTENT" "$CONTENT"/*

php-fpm8.2 --fpm-config /etc/tenantry-wordpress/php-fpm.conf --nodaemonize &
fpm=$!
nginx -e stderr -c /etc/tenantry-wordpress/nginx.conf -g 'daemon off;' &
web=$!
trap 'kill -TERM "$fpm" "$web" 2>/dev/null || true' TERM INT
status=0
wait -n "$fpm" "$web" || status=$?
kill -TERM "$fpm" "$web" 2>/dev/null || true
wait || true
exit "$status"
