#!/usr/bin/env bash
# Make sure a Docker engine answers on /var/run/docker.sock.
# A fresh machine has only the client: install Debian's docker.io and start dockerd ourselves
# (there is no systemd here), then wait until the engine answers.
set -euo pipefail

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || need_pkgs+=(docker.io)
command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || need_pkgs+=(busybox-static)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need_pkgs+=(iptables)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "ensure-docker: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Prefer Debian's client, which matches Debian's engine.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

if "$DOCKER" info >/dev/null 2>&1; then
  exit 0
fi

DOCKERD=/usr/sbin/dockerd
[ -x "$DOCKERD" ] || DOCKERD=$(command -v dockerd)
echo "ensure-docker: starting dockerd"
mkdir -p /var/log
nohup "$DOCKERD" --host=unix:///var/run/docker.sock >/var/log/dockerd.log 2>&1 &
for _ in $(seq 1 120); do
  if "$DOCKER" info >/dev/null 2>&1; then
    echo "ensure-docker: engine ready"
    exit 0
  fi
  sleep 0.5
done
echo "ensure-docker: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
tail -n 30 /var/log/dockerd.log >&2 || true
exit 1
