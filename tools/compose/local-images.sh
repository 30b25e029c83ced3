#!/bin/sh
# Builds the two images docker-compose.yml runs, from this machine's files, for a Docker
# host that cannot reach a registry (docs/compose.md, "Without a registry"):
#   podwire:local  this checkout's built podwire (dist/, the TAP addon, the production
#                  node_modules) with this machine's node, ip, nsenter and sysctl and the
#                  shared libraries they load (found with ldd), and busybox as /bin/sh;
#   busybox:1.36   the static busybox of Debian's busybox-static.
# Each is a root filesystem made here and `docker import`ed; nothing is pulled. Then:
#   docker-compose up -d --no-build
# Needs: a built checkout (npm install), busybox-static, docker (DOCKER_HOST is honoured).
set -eu
cd "$(dirname "$0")/../.."
[ -f dist/cli/main.js ] || { echo "local-images.sh: build podwire first (npm install, or npm run build)" >&2; exit 1; }
[ -f build/Release/podwire_tap.node ] || { echo "local-images.sh: the TAP addon is not built (node native/build.mjs)" >&2; exit 1; }
case "$(ldd /bin/busybox 2>&1 || true)" in
  *"not a dynamic"*|*"statically linked"*) ;;
  *) echo "local-images.sh: /bin/busybox is not static (apt-get install busybox-static)" >&2; exit 1 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# A program and every shared library it loads, at the same paths as here.
copy_prog() {
  root=$1; shift
  for prog in "$@"; do
    p=$(command -v "$prog")
    mkdir -p "$root$(dirname "$p")"
    cp -L "$p" "$root$p"
    ldd "$p" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}

busybox_root() {
  root=$1
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
  cp /bin/busybox "$root/bin/busybox"
  for a in sh ping wget nc nslookup sleep cat echo ls ip ifconfig route kill ps true timeout; do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"
}

# busybox:1.36 (the clients)
busybox_root "$work/busybox"
tar -C "$work/busybox" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - busybox:1.36 >/dev/null
echo "local-images.sh: built busybox:1.36"

# podwire:local
r="$work/podwire"
busybox_root "$r"
copy_prog "$r" node ip nsenter sysctl
mkdir -p "$r/app/build/Release" "$r/app/node_modules" "$r/app/captures"
cp -R package.json bin dist examples tools "$r/app/"
cp build/Release/podwire_tap.node "$r/app/build/Release/"
npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | while read -r dir; do
  rel=${dir#"$PWD/node_modules/"}
  mkdir -p "$r/app/node_modules/$(dirname "$rel")"
  [ -e "$r/app/node_modules/$rel" ] || cp -RL "$dir" "$r/app/node_modules/$rel"
done
tar -C "$r" -c . | docker import \
  -c 'WORKDIR /app' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'EXPOSE 7070' -c 'ENTRYPOINT ["tools/compose/entrypoint.sh"]' - podwire:local >/dev/null
echo "local-images.sh: built podwire:local"
