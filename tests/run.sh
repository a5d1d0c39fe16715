#!/usr/bin/env bash
# The test command: install what the tests need (tshark; iproute2, tcpdump, iptables,
# conntrack, ipset and curl for the kernel comparisons; the Python test extras), then run
# the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v iptables-restore >/dev/null 2>&1 || need+=(iptables)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v ipset >/dev/null 2>&1 || need+=(ipset)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v traceroute >/dev/null 2>&1 || need+=(traceroute)
command -v tracepath >/dev/null 2>&1 || need+=(iputils-tracepath)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections || true
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m pytest -q "$@"
