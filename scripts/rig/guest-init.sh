#!/bin/busybox sh
# shellcheck shell=dash disable=SC1091,SC2012
# /init of the rig's guest (busybox ash, PID 1). run-vm.sh puts this file in
# the initramfs next to /rig/cmd (the quoted command) and /rig/modules/.
# Whatever happens, it ends with "VFIO_RIG_EXIT=<status>" and a power-off,
# because PID 1 exiting would panic the kernel instead of stopping QEMU.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root LANG=C.UTF-8 TERM=dumb

/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev
# the kernel may have found no /dev/console in the archive: reopen it now
exec </dev/console >/dev/console 2>&1
# --install resolves itself through /proc/self/exe, so after mounting /proc
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/shm /dev/pts /dev/hugepages
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null || true
if grep -qw hugetlbfs /proc/filesystems; then
  mount -t hugetlbfs -o mode=1777 hugetlbfs /dev/hugepages
fi
hostname vfio-rig

finish() {
  echo
  echo "VFIO_RIG_EXIT=$1"
  sync
  poweroff -f
  sleep 60 # poweroff -f does not return; if it does, the host's timeout ends it
}
fail() { echo "rig-init: $*"; finish 120; }

echo "rig-init: kernel $(uname -r) $(uname -m), page size $(awk '/^KernelPageSize/ {print $2 $3; exit}' /proc/self/smaps), $(nproc) cpu, cmdline: $(cat /proc/cmdline)"

# modules in dependency order (busybox insmod knows no modules.dep)
while read -r m; do
  insmod "/rig/modules/$m.ko" || fail "insmod $m failed"
done </rig/modules/order

# Hand every edu (1234:11e8) and QEMU nvme (1b36:0010) device to vfio-pci.
for d in /sys/bus/pci/devices/*; do
  [ -e "$d/vendor" ] || continue
  id="$(cat "$d/vendor"):$(cat "$d/device")"
  case "$id" in 0x1234:0x11e8 | 0x1b36:0x0010) ;; *) continue ;; esac
  bdf=${d##*/}
  echo vfio-pci >"$d/driver_override"
  [ -e "$d/driver" ] && echo "$bdf" >"$d/driver/unbind"
  echo "$bdf" >/sys/bus/pci/drivers_probe
  drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
  [ "$drv" = vfio-pci ] || fail "$bdf ($id) did not bind to vfio-pci (driver: ${drv:-none}); see dmesg above"
  echo "rig-init: $bdf $id -> vfio-pci, iommu group $(basename "$(readlink "$d/iommu_group")")"
done
# group nodes are 0600: tests also run as uid 65534 (RLIMIT_MEMLOCK applies)
chmod 0666 /dev/vfio/* 2>/dev/null || true
echo "rig-init: /dev/vfio: $(ls /dev/vfio | tr "\n" " ")(group nodes chmod 0666)"

cd /pkg 2>/dev/null || cd /
echo "rig-init: running in $(pwd): $(cat /rig/cmd)"
# /rig/cmd holds "set -- 'arg' 'arg' ..." (single-quoted by the host)
. /rig/cmd
"$@"
finish $?
