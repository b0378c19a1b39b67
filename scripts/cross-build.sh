#!/usr/bin/env bash
# Cross-compiles the addon for linux-ppc64le with the powerpc64le-linux-gnu toolchain and
# writes it to prebuilds/linux-ppc64/node.napi.node (where node-gyp-build looks on ppc64le;
# N-API is ABI-stable, so the host's Node headers serve). The build runs in a scratch copy
# so the host's own build/ is left alone.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$REPO/prebuilds/linux-ppc64/node.napi.node}

if ! command -v powerpc64le-linux-gnu-g++ >/dev/null; then
  echo "cross-build: installing the powerpc64le cross compiler" >&2
  apt-get update -qq >&2 && apt-get install -y -qq g++-powerpc64le-linux-gnu >&2
fi

# The running Node's own headers (node-gyp would otherwise download them, and there is no
# network): N-API is the same on every architecture.
NODEDIR=$(cd "$(dirname "$(command -v node)")/.." && pwd)
[[ -f $NODEDIR/include/node/node_api.h ]] || {
  echo "cross-build: no Node headers under $NODEDIR/include/node (install nodejs with its headers)" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/vfio-cross.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$REPO/binding.gyp" "$REPO/native" "$work/"
ln -s "$REPO/node_modules" "$work/node_modules"
(
  cd "$work"
  CC=powerpc64le-linux-gnu-gcc CXX=powerpc64le-linux-gnu-g++ LINK=powerpc64le-linux-gnu-g++ \
    AR=powerpc64le-linux-gnu-ar "$REPO/node_modules/.bin/node-gyp" rebuild --arch=ppc64 \
    --nodedir="$NODEDIR" >&2
)
mkdir -p "$(dirname "$OUT")"
cp "$work/build/Release/vfio_spapr.node" "$OUT"
echo "cross-build: $(file -b "$OUT" | cut -d, -f1-2) -> ${OUT#$REPO/}" >&2
