#!/usr/bin/env bash
# Make sure a Docker engine answers on /var/run/docker.sock.
# A fresh machine has only the client: install Debian's docker.io and start dockerd ourselves
# (there is no systemd here), then wait until the engine answers.
# A dockerd started here writes no firewall rule (--iptables=false): Tenantry's firewall and
# scripts/docker-own-networks-nat.sh do (TENANTRY_DOCKER_FIREWALL, below); an engine already
# running is never touched.
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
dockerd_path=$PATH
dockerd_flags=()
# Who writes the engine's firewall rules. `tenantry` (the default): dockerd runs with
# --iptables=false, Tenantry's firewall writes a fixed set of rules for its whole subnet pool and
# scripts/docker-own-networks-nat.sh those of Docker's other networks: creating or removing a
# network then runs no iptables at all (dockerd's ~23 runs per network each read the whole
# ruleset: at 1,000 networks a create cost x17). `docker`: dockerd writes its own, per network.
firewall=${TENANTRY_DOCKER_FIREWALL:-tenantry}
case "$firewall" in
  tenantry)
    dockerd_flags+=(--iptables=false)
    "$(dirname "$0")/docker-own-networks-nat.sh"
    backend="none: Tenantry writes the rules"
    ;;
  docker)
    backend=$("$(dirname "$0")/docker-iptables-backend.sh")
    if [ "$backend" = legacy ]; then
      # dockerd runs `iptables`, `iptables-save`, ... by name: a directory first in its PATH whose
      # programs are the legacy ones switches it alone (the host's alternatives stay as they are;
      # Tenantry's confinement finds the engine's backend itself).
      bin_dir=/run/tenantry-docker-iptables
      mkdir -p "$bin_dir"
      for name in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
        legacy=$(command -v "${name/tables/tables-legacy}" || true)
        [ -n "$legacy" ] && ln -sfn "$legacy" "$bin_dir/$name"
      done
      dockerd_path=$bin_dir:$PATH
    fi
    ;;
  *) echo "TENANTRY_DOCKER_FIREWALL must be tenantry or docker (is: $firewall)" >&2; exit 2 ;;
esac
echo "ensure-docker: starting dockerd (iptables backend: $backend)"
mkdir -p /var/log
PATH=$dockerd_path nohup "$DOCKERD" --host=unix:///var/run/docker.sock "${dockerd_flags[@]}" >/var/log/dockerd.log 2>&1 &
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
