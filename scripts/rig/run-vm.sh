#!/usr/bin/env bash
# Boot Debian's ppc64el 6.12 kernel on QEMU's emulated POWER8 (powernv8) or
# POWER9 (powernv9) with two edu devices and one NVMe controller bound to
# vfio-pci, run CMD inside the guest (as root, in /pkg) and exit with its status.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: run-vm.sh --kernel 4k|64k [--machine powernv8|powernv9] [--timeout SECONDS]
                 [--payload DIR] [--append "KERNEL ARGS"] [--memory SIZE] [--smp N]
                 [--boot-deadline SECONDS] [--boot-attempts N] -- CMD [ARGS...]
  --kernel   guest kernel flavour: 4K or 64K pages (required)
  --machine  QEMU machine, default powernv8 (POWER8, PHB3 host bridges)
  --timeout  wall-clock limit for boot + CMD + power-off, default 600
  --boot-deadline  seconds for the guest to reach its init (normally 10-40), default 180;
             past it the boot counts as stalled and is tried again
  --boot-attempts  boots tried before giving up on a stalled one, default 3
  --payload  directory copied to /pkg in the guest; CMD runs in /pkg
  --append   extra kernel command line, e.g. "hugepagesz=16M hugepages=4"
  --memory   guest RAM, default 2G
  --smp      guest CPUs, default 2 (a worker thread in a long ioctl must not starve the
             event loop's thread, as it would on a one-CPU guest)
Exit status: CMD's status; 124 on timeout, 125 when the guest died without
reporting one (panic, boot failure), 2 on bad usage.
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${RIG_CACHE:-$REPO/.cache/rig}
kernel="" machine=powernv8 timeout=600 payload="" extra_append="" memory=2G smp=2
boot_deadline=180 boot_attempts=3
while (($#)); do
  case $1 in
    --kernel) kernel=${2:?}; shift 2 ;;
    --machine) machine=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --payload) payload=${2:?}; shift 2 ;;
    --append) extra_append=${2?}; shift 2 ;;
    --memory) memory=${2:?}; shift 2 ;;
    --smp) smp=${2:?}; shift 2 ;;
    --boot-deadline) boot_deadline=${2:?}; shift 2 ;;
    --boot-attempts) boot_attempts=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "run-vm: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
(($#)) || { echo "run-vm: no command given after --" >&2; usage >&2; exit 2; }
[[ $kernel == 4k || $kernel == 64k ]] || { echo "run-vm: --kernel must be 4k or 64k" >&2; exit 2; }
[[ $machine == powernv8 || $machine == powernv9 ]] || { echo "run-vm: --machine must be powernv8 or powernv9" >&2; exit 2; }
[[ $smp =~ ^[1-8]$ ]] || { echo "run-vm: --smp must be 1 to 8" >&2; exit 2; }
[[ $timeout =~ ^[0-9]+$ ]] || { echo "run-vm: --timeout must be whole seconds" >&2; exit 2; }
[[ $boot_deadline =~ ^[1-9][0-9]*$ ]] || { echo "run-vm: --boot-deadline must be whole seconds" >&2; exit 2; }
[[ $boot_attempts =~ ^[1-9]$ ]] || { echo "run-vm: --boot-attempts must be 1 to 9" >&2; exit 2; }
[[ -z $payload || -d $payload ]] || { echo "run-vm: payload $payload is not a directory" >&2; exit 2; }

# Cheap when the cache is complete; fetches everything on a fresh machine.
RIG_CACHE=$CACHE "$REPO/scripts/rig/prepare.sh" >&2
KDIR=$CACHE/kernel-$kernel

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vfio-rig.XXXXXX")
qpid="" tpid=""
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  if [[ -n $qpid ]]; then kill -9 "$qpid" 2>/dev/null || true; fi
  if [[ -n $tpid ]]; then kill "$tpid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- initramfs = cached userland archive + a small per-run archive ---
# (the kernel unpacks concatenated gzip'd cpio archives in order)
ov=$tmp/overlay
mkdir -p "$ov/rig/modules" "$ov/pkg"
install -m 0755 "$REPO/scripts/rig/guest-init.sh" "$ov/init"
cp "$KDIR"/modules/*.ko "$ov/rig/modules/"
cp "$KDIR/modules.order" "$ov/rig/modules/order"
[[ -n $payload ]] && cp -a "$payload/." "$ov/pkg/"
# CMD as a POSIX "set --" line, every word single-quoted
{
  printf 'set --'
  for a in "$@"; do printf " '%s'" "${a//\'/\'\\\'\'}"; done
  printf '\n'
} >"$ov/rig/cmd"
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 >"$tmp/overlay.cpio.gz")
cat "$CACHE/root.cpio.gz" "$tmp/overlay.cpio.gz" >"$tmp/initrd.gz"
# each run gets a pristine disk: tests may write to it
cp --sparse=always "$CACHE/nvme.img" "$tmp/nvme.img"

# Same bus names on both machines: pcie.N is the root port of PHB N, so each
# device sits behind its own PHB, i.e. in its own IOMMU group.
# panic=1 + -no-reboot: a panicking guest ends QEMU at once instead of hanging.
# log_buf_len: room for a whole run's kernel log (every container logs its PE's window
# set-up; a bench run logs ~3,000 records, past the default 128 KiB), which the suite and
# the bench judge (docs/kernel-log.md).
# shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
qemu=(
  qemu-system-ppc64 -M "$machine" -m "$memory" -smp "$smp" -nographic -no-reboot
  -kernel "$KDIR/vmlinux" -initrd "$tmp/initrd.gz"
  -append "console=hvc0 quiet panic=1 log_buf_len=4M${extra_append:+ $extra_append}"
  -device edu,bus=pcie.0,dma_mask=0xffffffffffffffff
  -device edu,bus=pcie.1
  -drive "file=$tmp/nvme.img,if=none,id=nv0,format=raw"
  -device nvme,bus=pcie.2,serial=vfiospapr0001,drive=nv0
)
log=$tmp/console.log
marker() { { tr -d '\r' <"$log" | grep -a -E '^VFIO_RIG_EXIT=[0-9]+$' || true; } | tail -n1 | cut -d= -f2; }
booted() { tr -d '\r' <"$log" | grep -a -q '^rig-init: kernel '; }

# One boot: sets status (the marker's value), timed_out, boot_stalled and qrc.
boot_once() {
  : >"$log"
  status="" timed_out="" boot_stalled="" qrc=0
  start=$SECONDS
  # stdin from /dev/null: QEMU leaves the terminal alone and CI has no stdin
  "${qemu[@]}" </dev/null >"$log" 2>&1 &
  qpid=$!
  # stream the console live; tail ends by itself shortly after QEMU does
  tail -s 0.2 -n +1 -F --pid="$qpid" "$log" 2>/dev/null &
  tpid=$!
  local up=""
  while kill -0 "$qpid" 2>/dev/null; do
    status=$(marker)
    if [[ -n $status ]]; then
      # poweroff -f normally ends QEMU within a second; don't wait forever
      for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
      break
    fi
    [[ -n $up ]] || ! booted || up=1
    if [[ -z $up ]] && ((SECONDS - start >= boot_deadline)); then boot_stalled=1; break; fi
    if ((SECONDS - start >= timeout)); then timed_out=1; break; fi
    sleep 0.5
  done
  kill -9 "$qpid" 2>/dev/null || true
  wait "$qpid" 2>/dev/null || qrc=$?
  qpid=""
  wait "$tpid" 2>/dev/null || true
  tpid=""
  [[ -n $status ]] || status=$(marker)
}

# Seen once in CI: skiboot (the firmware) waiting forever in pci_do_jobs on a job it gave
# the second CPU, before Linux starts. Nothing of CMD has run then, so booting again is safe.
for attempt in $(seq "$boot_attempts"); do
  echo "run-vm: booting $(cat "$KDIR/release") on $machine (timeout ${timeout}s, attempt $attempt of $boot_attempts)" >&2
  boot_once
  [[ -n $boot_stalled ]] || break
  echo "run-vm: the guest did not reach its init within ${boot_deadline}s (firmware or early kernel stall); last 8 console lines:" >&2
  tr -d '\r' <"$log" | tail -n 8 | sed 's/^/  | /' >&2
done
elapsed=$((SECONDS - start))

if [[ -n $status ]]; then
  echo "run-vm: guest command exited with status $status after ${elapsed}s ($kernel kernel, $machine)" >&2
  exit "$status"
fi
{
  echo
  if [[ -n $boot_stalled ]]; then
    echo "run-vm: FAILED: no boot reached the guest's init in $boot_attempts attempts of ${boot_deadline}s ($kernel kernel, $machine)"
  elif [[ -n $timed_out ]]; then
    echo "run-vm: FAILED: timed out after ${timeout}s without the VFIO_RIG_EXIT marker ($kernel kernel, $machine)"
  else
    echo "run-vm: FAILED: QEMU exited (status $qrc) after ${elapsed}s without the VFIO_RIG_EXIT marker: boot failure or kernel panic ($kernel kernel, $machine)"
  fi
  echo "run-vm: last 40 console lines:"
  tr -d '\r' <"$log" | tail -n 40 | sed 's/^/  | /'
} >&2
[[ -n $timed_out || -n $boot_stalled ]] && exit 124
exit 125
