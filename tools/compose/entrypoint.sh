#!/bin/sh
# Entry point of the podwire container in docker-compose.yml (docs/compose.md):
#   1. podwire up $PODWIRE_TOPOLOGY, API on 0.0.0.0:7070 (the token comes from PODWIRE_TOKEN);
#   2. for each NAME@NODE of $PODWIRE_ATTACH: wait for the process started with the argument
#      podwire-pod=NAME (visible through `pid: host`), then `podwire attach NAME --pid PID
#      --node NODE`: its container gets eth0 with a pod address of NODE;
#   3. wait; SIGINT/SIGTERM go to podwire, which removes the TAPs and exits 0.
set -eu
cd "$(dirname "$0")/../.."
TOPOLOGY="${PODWIRE_TOPOLOGY:-examples/compose.yaml}"
LISTEN="${PODWIRE_LISTEN:-0.0.0.0:7070}"
API="http://127.0.0.1:${LISTEN##*:}"
: "${PODWIRE_TOKEN:?set PODWIRE_TOKEN (the API listens off loopback inside the container)}"

node bin/podwire.js up "$TOPOLOGY" --listen "$LISTEN" &
UP=$!
trap 'kill -TERM "$UP" 2>/dev/null; wait "$UP"; exit $?' INT TERM

tries=0
until node bin/podwire.js stats --api "$API" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if ! kill -0 "$UP" 2>/dev/null; then echo "podwire up exited" >&2; wait "$UP"; exit 1; fi
  [ "$tries" -lt 120 ] || { echo "podwire API did not come up" >&2; exit 1; }
  sleep 0.5
done

for spec in ${PODWIRE_ATTACH:-}; do
  name="${spec%@*}"
  node="${spec#*@}"
  tries=0
  until pid="$(node tools/compose/find-pid.mjs "podwire-pod=$name" 2>/dev/null)"; do
    tries=$((tries + 1))
    [ "$tries" -lt 120 ] || { echo "no process marked podwire-pod=$name (is its container running?)" >&2; exit 1; }
    sleep 0.5
  done
  node bin/podwire.js attach "$name" --pid "$pid" --node "$node" --api "$API"
done

wait "$UP"
