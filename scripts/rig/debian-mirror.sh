#!/usr/bin/env bash
# Prints the Debian archive the host's apt already uses, as "URI<TAB>where it came from", so
# the rig fetches its ppc64el packages from the mirror this machine was configured with.
#   1. $RIG_DEBIAN_MIRROR, when set;
#   2. the first enabled `deb` entry, in the order apt reads them (sources.list, then the
#      parts' *.list and *.sources files in name order; one-line and deb822 formats), that
#      carries `main` for a Debian release suite (a codename or stable/testing/unstable:
#      bookworm-security, bookworm-updates and third-party suites such as `nodistro` are not
#      the archive itself);
#   3. http://deb.debian.org/debian, Debian's own redirector (hosts that are not Debian).
# The URI is passed to apt as written (mirror+file:, file: and proxies work as on the host).
#   usage: debian-mirror.sh [APT_ETC_DIR]   (default /etc/apt; another for tests)
set -euo pipefail

FALLBACK=http://deb.debian.org/debian
ETC=${1:-/etc/apt}

if [[ -n ${RIG_DEBIAN_MIRROR:-} ]]; then
  printf '%s\tRIG_DEBIAN_MIRROR\n' "$RIG_DEBIAN_MIRROR"
  exit 0
fi

# Debian's release names: codenames since buster, and the suite classes.
RELEASES='buster bullseye bookworm trixie forky duke sid oldoldstable oldstable stable testing unstable'

# One line per usable entry: "URI SUITE... -- COMPONENT..." (either format).
one_line_entries() { # $1 = a .list file
  awk '
    { sub(/#.*/, "") }
    $1 != "deb" { next }
    {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }  # [ options ]
      if (i + 1 > NF) next
      line = $i " " $(i + 1) " --"
      for (j = i + 2; j <= NF; j++) line = line " " $j
      print line
    }' "$1"
}

deb822_entries() { # $1 = a .sources file
  awk '
    function flush() {
      if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no" && uris != "")
        print uris "\t" suites "\t" comps
      types = ""; uris = ""; suites = ""; comps = ""; enabled = ""; field = ""
    }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { next }   # a continuation line (e.g. an inline Signed-By key)
    {
      field = tolower($0); sub(/:.*/, "", field)
      value = $0; sub(/^[^:]*:[ \t]*/, "", value); sub(/[ \t]+$/, "", value)
      if (field == "types") types = value
      else if (field == "uris") uris = value
      else if (field == "suites") suites = value
      else if (field == "components") comps = value
      else if (field == "enabled") enabled = value
    }
    END { flush() }' "$1" |
    while IFS=$'\t' read -r uris suites comps; do
      for uri in $uris; do printf '%s %s -- %s\n' "$uri" "$suites" "$comps"; done
    done
}

files=()
[[ -f $ETC/sources.list ]] && files+=("$ETC/sources.list")
if [[ -d $ETC/sources.list.d ]]; then
  while IFS= read -r f; do files+=("$f"); done < <(
    find "$ETC/sources.list.d" -maxdepth 1 -type f \( -name '*.list' -o -name '*.sources' \) |
      LC_ALL=C sort)
fi

for f in "${files[@]}"; do
  if [[ $f == *.sources ]]; then entries=$(deb822_entries "$f"); else entries=$(one_line_entries "$f"); fi
  while read -r uri rest; do
    [[ -n $uri && $uri != cdrom:* ]] || continue
    suites=${rest%%--*} comps=${rest#*--}
    [[ " $comps " == *" main "* ]] || continue
    for s in $suites; do
      if [[ " $RELEASES " == *" ${s%/} "* ]]; then
        printf '%s\t%s\n' "${uri%/}" "$f"
        exit 0
      fi
    done
  done <<<"$entries"
done
printf '%s\tfallback (no Debian archive in %s)\n' "$FALLBACK" "$ETC"
