#!/usr/bin/env bash
# Assembles what the guest runs, in OUTDIR (copied to /pkg in the guest): the package as
# users get it (package.json, dist/lib, the ppc64le prebuild that node-gyp-build loads),
# the compiled tests and examples, and the runtime node_modules (no compilers, no types).
# Expects `tsc` output in dist/ and the prebuild from scripts/cross-build.sh.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:?usage: payload.sh OUTDIR}
PREBUILD=$REPO/prebuilds/linux-ppc64/node.napi.node
[[ -f $PREBUILD ]] || { echo "payload: $PREBUILD missing: run scripts/cross-build.sh" >&2; exit 1; }
[[ -d $REPO/dist/lib ]] || { echo "payload: dist/ missing: run npm run build:ts" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT/prebuilds/linux-ppc64" "$OUT/node_modules"
cp "$REPO/package.json" "$OUT/"
cp -r "$REPO/dist" "$OUT/dist"
cp "$PREBUILD" "$OUT/prebuilds/linux-ppc64/"
# Everything but the build-time tools: the guest runs mocha and the library, nothing else.
for entry in "$REPO"/node_modules/* "$REPO"/node_modules/.bin; do
  case $(basename "$entry") in
    typescript | prettier | @types | node-gyp | node-addon-api) ;;
    *) cp -r "$entry" "$OUT/node_modules/" ;;
  esac
done
