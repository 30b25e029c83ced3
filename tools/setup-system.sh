#!/usr/bin/env bash
# Installs the Debian packages podwire's end-to-end tests and benchmarks use:
# tshark (decodes our captures), iperf3, dig (dnsutils), curl, iproute2 (ip netns,
# veth, the kernel's vxlan device), iptables and nftables (kube-proxy rule round trips),
# vde2 (vde_switch, benchmark peer), chromium (the web UI's browser tests, headless),
# docker.io, docker-compose and busybox-static (the Docker end-to-end tests start their own
# dockerd and build a busybox image locally),
# and the toolchain node-gyp needs for the TAP addon.
# Idempotent; needs root. Usage: sudo tools/setup-system.sh
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system.sh: needs root (apt-get install); run it with sudo" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(tshark iperf3 dnsutils curl iputils-ping iproute2 iptables nftables kmod vde2 python3 make g++ procps chromium docker.io docker-compose busybox-static)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-system.sh: all packages present"
  exit 0
fi
echo "setup-system.sh: installing ${missing[*]}"
# tshark asks whether non-root users may capture; answer no, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
