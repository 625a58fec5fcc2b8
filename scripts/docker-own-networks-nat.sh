#!/usr/bin/env bash
# Address translation and forwarding for Docker's own networks (docker0, where image builds run;
# compose projects' networks) on a host whose dockerd runs with --iptables=false, the default of
# scripts/ensure-docker.sh (issue 15). Such an engine writes no rule at all: Tenantry's firewall
# writes the rules of its subnet pool (tenantry/runtime/backends/docker_firewall_pool.py), this
# script those of every other Docker bridge. Idempotent: its chains are rewritten whole.
#
# - nat, TENANTRY-DOCKER-NAT from POSTROUTING: traffic forwarded out of a non-bridge interface
#   (the uplink) is masqueraded, as Docker's MASQUERADE per network did.
# - filter, TENANTRY-DOCKER-FWD last in FORWARD: traffic from a Docker bridge, and answers to it,
#   pass even when an engine that wrote rules earlier since boot left FORWARD's policy at DROP.
#   Last: Tenantry's pool chain, first in FORWARD, decides for tenant networks before it.
# Docker's own networks are not isolated from one another on such a host (docs/operations.md).
#
# Run only when no engine runs (scripts/ensure-docker.sh): rules an engine that wrote its own left
# since boot, in either iptables backend, are orphans then, and they would still drop every new
# bridge's traffic (Docker's FORWARD policy DROP, its chains naming bridges that are gone). Its
# chains and the jumps to them go, and FORWARD's policy is ACCEPT again in that backend.
set -euo pipefail

iptables=${IPTABLES:-iptables}
echo 1 > /proc/sys/net/ipv4/ip_forward  # procps (sysctl) may be missing on a minimal host

clear_docker_leftovers() {
  local binary=$1 table rule chain
  "$binary" -w 10 -S DOCKER-USER >/dev/null 2>&1 || return 0  # no engine wrote rules here
  echo "docker-own-networks-nat: clearing the rules an earlier engine left in $binary" >&2
  for table in filter nat; do
    { "$binary" -w 10 -t "$table" -S | grep -E '^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*-j DOCKER' || true; } \
      | sed 's/^-A /-D /' | while read -r rule; do
          # shellcheck disable=SC2086  # Docker's rules carry no quoted words
          "$binary" -w 10 -t "$table" $rule
        done
    for chain in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
      "$binary" -w 10 -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
      "$binary" -w 10 -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
  "$binary" -w 10 -P FORWARD ACCEPT
}
# Listing the legacy tables where there are none would make them: only when the kernel has one.
if command -v iptables-legacy >/dev/null 2>&1 && grep -qx filter /proc/net/ip_tables_names 2>/dev/null; then
  clear_docker_leftovers iptables-legacy
fi
if command -v iptables-nft >/dev/null 2>&1; then
  clear_docker_leftovers iptables-nft
fi

"$iptables" -w 10 -t nat -N TENANTRY-DOCKER-NAT 2>/dev/null || true
"$iptables-restore" --noflush -w 10 <<'RULES'
*nat
:TENANTRY-DOCKER-NAT - [0:0]
-A TENANTRY-DOCKER-NAT -o docker0 -j RETURN
-A TENANTRY-DOCKER-NAT -o br-+ -j RETURN
-A TENANTRY-DOCKER-NAT -m addrtype --src-type LOCAL -j RETURN
-A TENANTRY-DOCKER-NAT -j MASQUERADE
COMMIT
*filter
:TENANTRY-DOCKER-FWD - [0:0]
-A TENANTRY-DOCKER-FWD -i docker0 -j ACCEPT
-A TENANTRY-DOCKER-FWD -i br-+ -j ACCEPT
-A TENANTRY-DOCKER-FWD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A TENANTRY-DOCKER-FWD -o br-+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
RULES
"$iptables" -w 10 -t nat -C POSTROUTING -j TENANTRY-DOCKER-NAT 2>/dev/null \
  || "$iptables" -w 10 -t nat -A POSTROUTING -j TENANTRY-DOCKER-NAT
"$iptables" -w 10 -C FORWARD -j TENANTRY-DOCKER-FWD 2>/dev/null \
  || "$iptables" -w 10 -A FORWARD -j TENANTRY-DOCKER-FWD
