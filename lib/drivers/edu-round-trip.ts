// The DMA round trip a VMM makes, step by step, through the public classes: open the
// container, attach the group, choose the v2 IOMMU, read the windows, allocate and register
// memory (locked memory before and after), map it, enable bus mastering, let QEMU's edu
// device copy RAM -> device -> RAM, verify the bytes, and tear everything down with locked
// memory back where it started. `vfio-spapr selftest`, the demo and
// examples/dma-round-trip.ts all run this one sequence.
import { nativeBinding, type NativeBinding } from '../binding';
import { Container } from '../container';
import { DmaBuffer } from '../dma-buffer';
import { Edu, EDU_DEVICE, EDU_VENDOR } from './edu';
import { ArgumentRangeError, DriverBindError } from '../errors';
import { readMemlockStatus } from '../memlock';
import { Sysfs } from '../sysfs';

const IOVA = 0x100000n;
const COUNT = 4000;
/** Where in the buffer the device writes the bytes back. */
const RETURN_OFFSET = 8192;

export interface EduDevice {
  bdf: string;
  group: number;
}

export interface RoundTripOptions {
  /** Receives each step as one line. */
  log?: (line: string) => void;
  /** The native binding to use (tests pass a fake). */
  binding?: NativeBinding;
  sysfs?: Sysfs;
}

export interface RoundTripResult extends EduDevice {
  /** Bytes sent each way. */
  bytes: number;
  /** The bytes that came back equal the bytes sent. */
  match: boolean;
  /** VmLck before and after: equal when teardown released everything. */
  lockedAtStart: bigint;
  lockedAtEnd: bigint;
  ok: boolean;
}

/**
 * The edu device to use: `bdf` if given (it must be an edu device on vfio-pci), else the
 * first edu device bound to vfio-pci.
 */
export function findEduDevice(sysfs: Sysfs = new Sysfs(), bdf?: string): EduDevice {
  if (bdf !== undefined) {
    const d = sysfs.deviceInfo(bdf);
    if (d.vendor !== EDU_VENDOR || d.device !== EDU_DEVICE) {
      throw new ArgumentRangeError(
        `${d.bdf} is ${d.vendor}:${d.device}, not QEMU's edu device (${EDU_VENDOR}:${EDU_DEVICE}): ` +
          'the DMA self-test drives edu only',
      );
    }
    if (d.driver !== 'vfio-pci' || d.iommuGroup === null) {
      throw new DriverBindError({
        device: null,
        problem: `${d.bdf} is bound to ${d.driver ?? 'no driver'}, not vfio-pci: run \`vfio-spapr bind ${d.bdf}\` as root`,
      });
    }
    return { bdf: d.bdf, group: d.iommuGroup };
  }
  for (const group of sysfs.listIommuGroups()) {
    for (const d of group.devices) {
      if (d.vendor === EDU_VENDOR && d.device === EDU_DEVICE && d.driver === 'vfio-pci') {
        return { bdf: d.bdf, group: group.group };
      }
    }
  }
  throw new DriverBindError({
    device: null,
    problem: `no edu device (${EDU_VENDOR}:${EDU_DEVICE}) is bound to vfio-pci: see \`vfio-spapr list\``,
  });
}

function kib(bytes: bigint): string {
  return `${bytes / 1024n} KiB`;
}

/** Runs the round trip on an edu device, reporting each step through `options.log`. */
export async function eduDmaRoundTrip(
  bdf?: string,
  options: RoundTripOptions = {},
): Promise<RoundTripResult> {
  const log = options.log ?? (() => undefined);
  const binding = options.binding ?? nativeBinding();
  const locked = () => readMemlockStatus(binding).locked;
  const edu = findEduDevice(options.sysfs, bdf);
  const start = locked();
  log(`locked memory at start: ${kib(start)} (VmLck)`);

  const container = Container.open({ binding });
  const ext = container.extensions();
  log(
    `1. opened /dev/vfio/vfio: API ${container.apiVersion}, SPAPR v1 ${ext.spaprV1}, v2 ${ext.spaprV2}, EEH ${ext.eeh}`,
  );
  const buffer = DmaBuffer.allocate(65536, { binding });
  try {
    const group = container.addGroup(edu.group);
    log(`2. attached IOMMU group ${group.number} (viable) holding ${edu.bdf}`);
    container.setIommu('v2');
    const info = container.info();
    log(
      `3. SPAPR TCE v2: dma32 window ${info.dma32.size >> 20n} MiB at 0x${info.dma32.start.toString(16)}; ` +
        (info.ddw
          ? `dynamic windows: ${info.ddw.maxWindows} max, ${info.ddw.levels} levels, pages ${info.ddw.pageSizes.map((p) => kib(p)).join(' ')}`
          : 'no dynamic windows'),
    );
    log(`4. allocated a ${buffer.size}-byte DMA buffer at 0x${buffer.address.toString(16)}`);
    const region = container.register(buffer);
    log(`5. registered it (pinned): locked ${kib(start)} -> ${kib(locked())}`);
    const mapping = container.map(region, IOVA);
    log(
      `6. mapped it at IOVA 0x${IOVA.toString(16)}; the default window's TCE table was created: ` +
        `locked now ${kib(locked())}`,
    );
    const device = group.openDevice(edu.bdf);
    device.enableBusMaster();
    const dev = new Edu(device);
    log(
      `7. opened ${edu.bdf}, bus master on; edu ID 0x${dev.id().toString(16)}, liveness ok: ${dev.liveness(0x1234) === ~0x1234 >>> 0}`,
    );

    const bytes = buffer.bytes();
    for (let i = 0; i < COUNT; i += 1) bytes[i] = (i * 31 + 7) & 0xff;
    bytes.fill(0, RETURN_OFFSET, RETURN_OFFSET + COUNT);
    await dev.toDevice(IOVA, COUNT);
    log(`8. DMA RAM -> device: ${COUNT} bytes from IOVA 0x${IOVA.toString(16)}`);
    const back = IOVA + BigInt(RETURN_OFFSET);
    await dev.toRam(back, COUNT);
    log(`9. DMA device -> RAM: ${COUNT} bytes to IOVA 0x${back.toString(16)}`);
    const match = bytes.subarray(0, COUNT).every((b, i) => b === bytes[RETURN_OFFSET + i]);
    log(`10. verified: ${match ? 'the bytes came back identical' : 'MISMATCH'}`);

    mapping.unmap();
    region.unregister();
    container.close();
    buffer.free();
    const end = locked();
    log(`11. unmapped, unregistered, closed: locked ${kib(end)} (start ${kib(start)})`);
    return {
      ...edu,
      bytes: COUNT,
      match,
      lockedAtStart: start,
      lockedAtEnd: end,
      ok: match && end === start,
    };
  } finally {
    container.close();
    if (!buffer.freed) buffer.free();
  }
}
