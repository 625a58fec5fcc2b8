#!/usr/bin/env bash
# Which iptables backend should a dockerd about to start on this host use? Prints `legacy` or
# `nft` on stdout and the reason on stderr. Used by scripts/ensure-docker.sh (docs/operations.md,
# "Docker's firewall backend").
#
# dockerd 20.10 runs ~23 `iptables` commands per network it creates (and as many to remove it),
# and each costs in proportion to the ruleset, which grows by ~8 rules per network. Per command,
# at ~830 networks (6,700 rules): 11.7 ms CPU under nf_tables, 4.7 ms under legacy (1.7 and 1.5 ms
# with an empty table);
# a network create took 0.85 s under nft, 0.29 s under legacy (bench/docker_network_scale.py).
# Neither is flat: the cost per rule under legacy is a third of nft's.
#
# Legacy is chosen only where nothing is lost by it: iptables-legacy is installed and no Docker
# rules are in the nf_tables ruleset yet (an engine that ran on nft since the last boot: its
# rules stay there, and mixing backends would split Docker's chains across two tables; reboot or
# keep nft). TENANTRY_DOCKER_IPTABLES=legacy|nft decides instead when set.
set -euo pipefail

choice=${TENANTRY_DOCKER_IPTABLES:-auto}
case "$choice" in
  legacy|nft) echo "TENANTRY_DOCKER_IPTABLES=$choice" >&2; echo "$choice"; exit 0 ;;
  auto) ;;
  *) echo "TENANTRY_DOCKER_IPTABLES must be legacy, nft or auto (is: $choice)" >&2; exit 2 ;;
esac

if ! command -v iptables-legacy >/dev/null 2>&1; then
  echo "iptables-legacy is not installed: keeping nf_tables" >&2
  echo nft
  exit 0
fi
if command -v iptables-nft >/dev/null 2>&1; then
  for table_chain in "filter DOCKER-USER" "filter DOCKER" "nat DOCKER"; do
    set -- $table_chain
    if iptables-nft -w 10 -t "$1" -S "$2" >/dev/null 2>&1; then
      echo "Docker's rules are in the nf_tables ruleset already ($1 $2): keeping nf_tables" >&2
      echo nft
      exit 0
    fi
  done
fi
echo "no Docker rules under nf_tables: legacy (cost per rule a third of nft's)" >&2
echo legacy
