#!/usr/bin/env bash
# `npm run test:asan`: builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer
# (binding.gyp's vfio_sanitize variable, node-gyp as always) in a scratch copy of the package,
# so the tree's own build/ is left alone, then runs the host suite (native smoke and host fuzz
# included) against it. Node itself is not instrumented: the ASan runtime is preloaded.
# Leak detection is off (V8 never frees some of its allocations); any other finding stops the
# process (halt_on_error, -fno-sanitize-recover) and fails the run.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODEDIR=$(cd "$(dirname "$(command -v node)")/.." && pwd)
cd "$REPO"

libasan=$(${CC:-gcc} -print-file-name=libasan.so)
[[ -f $libasan ]] || { echo "asan: no libasan.so from ${CC:-gcc} (install libasan8 / gcc)" >&2; exit 1; }
node node_modules/typescript/bin/tsc -p .

work=$(mktemp -d "${TMPDIR:-/tmp}/vfio-asan.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The package as the host suite sees it (tests read sources, docs and results and run scripts
# relative to it).
for entry in binding.gyp package.json tsconfig.json .prettierrc.json README.md native lib test \
  scripts examples bench docs dist; do
  [[ -e $entry ]] && cp -r "$entry" "$work/"
done
ln -s "$REPO/node_modules" "$work/node_modules"
(cd "$work" && node "$REPO/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="$NODEDIR" \
  --vfio_sanitize=true >&2)
addon=$work/build/Release/vfio_spapr.node
hooks=$(nm -D "$addon" | grep -c '__asan_report\|__ubsan_handle' || true)
if ((hooks == 0)); then
  echo "asan: $addon is not instrumented" >&2
  exit 1
fi
echo "asan: $hooks sanitizer hooks in the addon; preloading $libasan" >&2

export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87
export VFIO_SUITE_NAME=host-asan
LD_PRELOAD=$libasan node "$REPO/node_modules/mocha/bin/mocha.js" \
  --reporter "$work/dist/test/support/summary-reporter.js" --timeout 120000 \
  "$work/dist/test/unit/**/*.test.js"
