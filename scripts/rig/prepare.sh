#!/usr/bin/env bash
# Fetch and unpack everything the emulated POWER8 rig needs into .cache/rig/:
# Debian's ppc64el 6.12 kernels (4K and 64K pages) with their VFIO modules,
# a guest userland (busybox-static + nodejs), and an NVMe backing image.
# Idempotent: a second run with a complete cache only checks and exits.
# Env: RIG_REFRESH=1 re-reads the package index and re-resolves versions;
# RIG_DEBIAN_MIRROR=URI fetches from that Debian archive instead of the one the host's apt
# uses (scripts/rig/debian-mirror.sh: how it is found, and the fallback).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${RIG_CACHE:-$REPO/.cache/rig}
APTDIR=$CACHE/apt
DEBS=$CACHE/debs
STAMP=$CACHE/ready
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# Modules the rig loads; their dependencies are found from the .ko files.
VFIO_MODULES=(vfio vfio_iommu_spapr_tce vfio-pci-core vfio-pci)

say() { printf 'rig: %s\n' "$*"; }
die() { printf 'rig: error: %s\n' "$*" >&2; exit 1; }

# --- host tools: CI starts from a fresh machine, so install what is missing ---
need_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2"); }
need qemu-system-ppc64 qemu-system-ppc
need powerpc64le-linux-gnu-g++ g++-powerpc64le-linux-gnu
need cpio cpio
need xz xz-utils
need gzip gzip
need dpkg-deb dpkg
need apt-get apt
[[ -f $KEYRING ]] || need_pkgs+=(debian-archive-keyring)
# skiboot (powernv firmware) lives in qemu-system-data; an odd install may lack it
[[ -f /usr/share/qemu/skiboot.lid ]] || need_pkgs+=(qemu-system-data)
if ((${#need_pkgs[@]})); then
  say "installing host packages: ${need_pkgs[*]}"
  [[ $(id -u) == 0 ]] || die "need root to apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- fast path: everything already unpacked ---
complete() {
  local k
  for k in 4k 64k; do
    [[ -f $CACHE/kernel-$k/vmlinux && -f $CACHE/kernel-$k/modules.order ]] || return 1
  done
  [[ -f $CACHE/root.cpio.gz && -x $CACHE/root/usr/bin/node && -f $CACHE/nvme.img && -f $STAMP ]]
}
if [[ -z ${RIG_REFRESH:-} ]] && complete; then
  say "cache complete in ${CACHE#"$REPO"/} ($(sed -n 's/^kernel-4k=//p' "$STAMP"))"
  exit 0
fi
rm -f "$STAMP"

# --- private apt state: ppc64el only, never touches the host's apt config ---
mkdir -p "$APTDIR"/state/lists/partial "$APTDIR"/cache/archives/partial "$APTDIR"/etc/empty.d "$DEBS"
IFS=$'\t' read -r MIRROR MIRROR_FROM < <("$REPO/scripts/rig/debian-mirror.sh")
say "Debian mirror: $MIRROR (from $MIRROR_FROM)"
# No security suite: its ppc64el index was seen broken ("unexpected size").
sources=$(printf 'deb [arch=ppc64el signed-by=%s] %s %s main\n' \
  "$KEYRING" "$MIRROR" bookworm "$KEYRING" "$MIRROR" bookworm-backports)
# Another mirror's index has other file names: a changed source list is read afresh.
if [[ ! -f $APTDIR/etc/sources.list || $(cat "$APTDIR/etc/sources.list") != "$sources" ]]; then
  printf '%s\n' "$sources" >"$APTDIR/etc/sources.list"
  rm -f "$APTDIR"/state/lists/*_Packages*
fi
APT_OPTS=(
  -o APT::Architecture=ppc64el -o APT::Architectures::=ppc64el
  -o Dir::State="$APTDIR/state" -o Dir::State::status=/dev/null
  -o Dir::Cache="$APTDIR/cache" -o Dir::Etc::SourceList="$APTDIR/etc/sources.list"
  -o Dir::Etc::SourceParts="$APTDIR/etc/empty.d" -o Dir::Etc::Preferences=/dev/null
  -o Dir::Etc::PreferencesParts="$APTDIR/etc/empty.d" -o Debug::NoLocking=1
  -o APT::Sandbox::User=root
)
papt() { apt-get "${APT_OPTS[@]}" "$@"; }
pcache() { apt-cache "${APT_OPTS[@]}" "$@"; }

# Re-read the index when asked, when missing, or when older than a day
# (backports drops old kernel builds, so a stale index gives 404s).
if [[ -n ${RIG_REFRESH:-} ]] || ! compgen -G "$APTDIR/state/lists/*_Packages*" >/dev/null ||
  [[ -n $(find "$APTDIR/state/lists" -maxdepth 1 -name '*_Packages*' -mmin +1440 -print -quit) ]]; then
  say "updating private ppc64el package index"
  papt -qq update
fi

# --- resolve package names from the index (no pinned versions) ---
newest_kernel() { # $1 = flavour suffix regex: "" or "-64k"
  pcache search --names-only '^linux-image-6\.12' | awk '{print $1}' |
    grep -E "^linux-image-6\.12\.[0-9]+[^ ]*-powerpc64le$1\$" | sort -V | tail -n1
}
K4=$(newest_kernel "")
K64=$(newest_kernel "-64k")
[[ -n $K4 && -n $K64 ]] || die "no linux-image-6.12*-powerpc64le(-64k) in the ppc64el index"
say "kernels: $K4, $K64"

# Guest userland: busybox-static plus nodejs and its whole Depends closure
# (libnodeNNN, ICU, OpenSSL, ... and the arch-all node-* builtins node needs).
mapfile -t ROOT_PKGS < <(
  { echo busybox-static
    pcache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances nodejs | grep -v '^ ' | grep -v '^<'; } | sort -u)
say "guest packages: ${ROOT_PKGS[*]}"

# Download into debs/, skipping files already there with the right size.
fetch() { # names... ; prints the local .deb paths
  local uri file size _hash
  while read -r uri file size _hash; do
    uri=${uri//\'/}
    if [[ ! -f $DEBS/$file || $(stat -c %s "$DEBS/$file") != "$size" ]]; then
      printf 'rig: download %s\n' "$file" >&2
      (cd "$DEBS" && papt -qq download "${file%%_*}") >&2
    fi
    echo "$DEBS/$file"
  done < <(papt -qq --print-uris download "$@")
}
mapfile -t ROOT_DEBS < <(fetch "${ROOT_PKGS[@]}")
mapfile -t K4_DEB < <(fetch "$K4")
mapfile -t K64_DEB < <(fetch "$K64")
((${#ROOT_DEBS[@]} == ${#ROOT_PKGS[@]})) || die "could not resolve all guest packages"

# --- guest userland ---
manifest=$(printf '%s\n' "${ROOT_DEBS[@]##*/}")
if [[ ! -f $CACHE/root.manifest || $(cat "$CACHE/root.manifest") != "$manifest" || ! -f $CACHE/root.cpio.gz ]]; then
  say "unpacking guest userland"
  rm -rf "$CACHE/root.new"
  mkdir -p "$CACHE/root.new"
  for d in "${ROOT_DEBS[@]}"; do dpkg-deb -x "$d" "$CACHE/root.new"; done
  # docs, manpages and locales only cost initramfs time
  # (gconv: glibc iconv modules, 20 MB that node never loads)
  rm -rf "$CACHE/root.new"/usr/share/{doc,man,info,lintian,locale,bug} \
    "$CACHE/root.new"/usr/lib/powerpc64le-linux-gnu/gconv
  mkdir -p "$CACHE/root.new"/{proc,sys,dev,tmp,root,run,etc}
  [[ -x $CACHE/root.new/bin/busybox && -x $CACHE/root.new/usr/bin/node ]] || die "busybox or node missing after unpack"
  # minimal identity files so node's os.userInfo() and getpwuid work
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$CACHE/root.new/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$CACHE/root.new/etc/group"
  # The kernel opens /dev/console before /init runs; without the node the
  # init starts with no stdout. Needs root (CI is root); init copes otherwise.
  mknod -m 600 "$CACHE/root.new/dev/console" c 5 1 2>/dev/null || say "warning: cannot mknod /dev/console (not root?)"
  rm -rf "$CACHE/root"
  mv "$CACHE/root.new" "$CACHE/root"
  say "packing base initramfs"
  (cd "$CACHE/root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 >"$CACHE/root.cpio.gz.new")
  mv "$CACHE/root.cpio.gz.new" "$CACHE/root.cpio.gz"
  printf '%s\n' "$manifest" >"$CACHE/root.manifest"
fi

# --- kernels: vmlinux + decompressed VFIO modules in dependency order ---
unpack_kernel() { # $1 = 4k|64k, $2 = .deb
  local flavour=$1 deb=$2 out=$CACHE/kernel-$1 stage
  if [[ -f $out/package && $(cat "$out/package") == "${deb##*/}" && -f $out/modules.order ]]; then
    return 0
  fi
  say "unpacking kernel $flavour (${deb##*/})"
  stage=$(mktemp -d "$CACHE/stage.XXXXXX")
  dpkg-deb -x "$deb" "$stage"
  rm -rf "$out.new"
  mkdir -p "$out.new/modules"
  local vml
  vml=$(find "$stage/boot" -name 'vmlinux-*' -print -quit)
  [[ -n $vml ]] || die "no /boot/vmlinux-* in $deb"
  cp "$vml" "$out.new/vmlinux"
  cp "$stage"/boot/config-* "$out.new/config" 2>/dev/null || true
  basename "$vml" | sed 's/^vmlinux-//' >"$out.new/release"

  # index: normalized module name (- and _ are the same to the kernel) -> file
  declare -A kofile=()
  local f n
  while IFS= read -r f; do
    n=$(basename "$f"); n=${n%%.ko*}; kofile[${n//-/_}]=$f
  done < <(find "$stage/lib/modules" "$stage/usr/lib/modules" -name '*.ko*' 2>/dev/null)

  # depth-first walk of modinfo "depends=" gives a valid load order
  declare -A seen=()
  local order=()
  visit() {
    local name=${1//-/_} file deps d
    [[ -n ${seen[$name]:-} ]] && return 0
    seen[$name]=1
    file=${kofile[$name]:-}
    [[ -n $file ]] || die "module $name not found in $deb (built in? check config)"
    case $file in
      *.xz) xz -dc "$file" >"$out.new/modules/$name.ko" ;;
      *.zst) zstd -qdc "$file" >"$out.new/modules/$name.ko" ;;
      *.gz) gzip -dc "$file" >"$out.new/modules/$name.ko" ;;
      *) cp "$file" "$out.new/modules/$name.ko" ;;
    esac
    deps=$(tr '\0' '\n' <"$out.new/modules/$name.ko" | sed -n 's/^depends=//p' | head -n1)
    for d in ${deps//,/ }; do visit "$d"; done
    order+=("$name")
  }
  for n in "${VFIO_MODULES[@]}"; do visit "$n"; done
  printf '%s\n' "${order[@]}" >"$out.new/modules.order"
  printf '%s\n' "${deb##*/}" >"$out.new/package"
  rm -rf "$stage" "$out"
  mv "$out.new" "$out"
  say "kernel $flavour $(cat "$out/release"): modules $(tr '\n' ' ' <"$out/modules.order")"
}
unpack_kernel 4k "${K4_DEB[0]}"
unpack_kernel 64k "${K64_DEB[0]}"

# --- NVMe backing image: 64 MiB sparse, LBA 0 carries a recognizable tag ---
if [[ ! -f $CACHE/nvme.img ]]; then
  say "creating nvme.img"
  truncate -s 64M "$CACHE/nvme.img.new"
  printf 'vfio-spapr nvme test image\n' | dd of="$CACHE/nvme.img.new" conv=notrunc status=none
  mv "$CACHE/nvme.img.new" "$CACHE/nvme.img"
fi

# old .debs that the index no longer names only waste disk
keep=$(printf '%s\n' "${ROOT_DEBS[@]##*/}" "${K4_DEB[0]##*/}" "${K64_DEB[0]##*/}")
for f in "$DEBS"/*.deb; do
  grep -qxF "${f##*/}" <<<"$keep" || rm -f "$f"
done

{
  echo "kernel-4k=$(cat "$CACHE/kernel-4k/release")"
  echo "kernel-64k=$(cat "$CACHE/kernel-64k/release")"
  echo "node=$(printf '%s\n' "${ROOT_DEBS[@]##*/}" | grep '^nodejs_' | cut -d_ -f2)"
} >"$STAMP"
say "ready: $(tr '\n' ' ' <"$STAMP")"
