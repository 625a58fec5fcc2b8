#!/bin/sh
# The "hello" test app: a page that names its instance, and state kept in the /data volume.
# HELLO_START_DELAY (seconds) makes it slow to become ready, for tests of long steps.
set -e
mkdir -p /data /www /www/cgi-bin
[ -f /data/created_at ] || date -u +%Y-%m-%dT%H:%M:%SZ > /data/created_at
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> /data/boots
boots=$(wc -l < /data/boots)
name=${HELLO_INSTANCE:-unnamed}
cat > /www/index.html <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>hello ${name}</title></head>
<body><h1>Hello from ${name}</h1>
<p>instance: <code>${name}</code></p>
<p>volume created: <code>$(cat /data/created_at)</code>, boots: <code>${boots}</code></p>
<p>message: <code>${HELLO_MESSAGE:-}</code></p>
</body></html>
HTML
ln -sfn /data /www/data
if [ -n "${HELLO_START_DELAY:-}" ]; then sleep "${HELLO_START_DELAY}"; fi
echo "hello: serving ${name} on port ${HELLO_PORT:-8080} (boot ${boots})"
exec httpd -f -p "${HELLO_PORT:-8080}" -h /www
