// The NVMe self-test of `vfio-spapr selftest`: an NVMe controller's Identify Controller and
// Identify Namespace answers, fetched by DMA through the default 32-bit window and again
// through a dynamic window, compared byte for byte and checked for sense; locked memory back
// where it started at the end. Only admin commands that read are sent: nothing is written to
// the media, no I/O queue is created, and the controller is left disabled.
import { nativeBinding, type NativeBinding } from '../binding';
import { Container } from '../container';
import type { Group } from '../group';
import { readMemlockStatus } from '../memlock';
import { Sysfs } from '../sysfs';
import { DmaArena } from './dma-arena';
import { NvmeController, findNvmeController, type NvmeDevice } from './nvme';

/** Bus address of the test's memory in the default window. */
const DEFAULT_WINDOW_IOVA = 0x100000n;
/** The dynamic window: small, as its TCE table is charged to locked memory. */
const DYNAMIC_WINDOW_SIZE = 256n << 20n;
/** Admin queues and the Identify page: one 64 KiB page on either kernel. */
const ARENA_BYTES = 65536;

export interface NvmeSelftestOptions {
  /** Receives each step as one line. */
  log?: (line: string) => void;
  /** The native binding to use (tests pass a fake). */
  binding?: NativeBinding;
  sysfs?: Sysfs;
}

export interface NvmeWindowPass {
  window: 'default' | 'dynamic';
  iova: bigint;
  iommuPageSize: bigint;
  vendorId: number;
  serial: string;
  model: string;
  firmware: string;
  /** NN: the highest namespace ID. */
  maxNamespaceId: number;
  /** Namespace 1 (zero blocks when it is not active), when the controller has namespace IDs. */
  namespace: { blocks: bigint; blockSize: number } | null;
}

export interface NvmeSelftestResult extends NvmeDevice {
  device: 'nvme';
  passes: NvmeWindowPass[];
  /** The Identify answers are the same bytes in every window. */
  identical: boolean;
  /** What did not make sense in the answers (empty when all did). */
  problems: string[];
  lockedAtStart: bigint;
  lockedAtEnd: bigint;
  ok: boolean;
}

const kib = (bytes: bigint) => `${bytes / 1024n} KiB`;
const hex = (n: bigint) => `0x${n.toString(16)}`;
const printable = (text: string) => text.length > 0 && /^[\x20-\x7e]+$/.test(text);

interface Answers {
  pass: NvmeWindowPass;
  bytes: Uint8Array[];
}

/** Brings the controller up with its queues at `iova`, asks Identify, and takes it all down. */
async function identifyThrough(
  container: Container,
  group: Group,
  nvme: NvmeDevice,
  where: { window: 'default' | 'dynamic'; iova: bigint; iommuPageSize: bigint },
  say: (line: string) => void,
  binding: NativeBinding,
): Promise<Answers> {
  const memory = DmaArena.map(container, where.iova, ARENA_BYTES, { binding });
  const device = group.openDevice(nvme.bdf);
  try {
    const controller = NvmeController.open(device, memory);
    try {
      say(
        `${where.window} window: ${kib(BigInt(memory.buffer.size))} registered and mapped at IOVA ` +
          `${hex(where.iova)}; locked now ${kib(readMemlockStatus(binding).locked)}`,
      );
      await controller.enable();
      say(`controller reset and enabled, its admin queues at IOVA ${hex(where.iova)}`);
      const id = await controller.identifyController();
      say(
        `Identify Controller by DMA: model "${id.model}", serial "${id.serial}", firmware ` +
          `"${id.firmware}", PCI vendor 0x${id.vendorId.toString(16)}, namespace IDs up to ${id.maxNamespaceId}`,
      );
      const bytes = [id.raw];
      let namespace: NvmeWindowPass['namespace'] = null;
      if (id.maxNamespaceId >= 1) {
        const ns = await controller.identifyNamespace(1);
        namespace = { blocks: ns.blocks, blockSize: ns.blockSize };
        bytes.push(ns.raw);
        say(
          ns.blocks === 0n
            ? 'Identify Namespace 1 by DMA: not an active namespace (0 blocks)'
            : `Identify Namespace 1 by DMA: ${ns.blocks} blocks of ${ns.blockSize} bytes`,
        );
      }
      const { vendorId, serial, model, firmware, maxNamespaceId } = id;
      return {
        pass: { ...where, vendorId, serial, model, firmware, maxNamespaceId, namespace },
        bytes,
      };
    } finally {
      await controller.close();
    }
  } finally {
    device.close();
    memory.close();
  }
}

/** What does not make sense in an answer. */
function problemsOf(pass: NvmeWindowPass, pciVendor: number): string[] {
  const problems: string[] = [];
  if (!printable(pass.serial))
    problems.push(`serial ${JSON.stringify(pass.serial)} is not ASCII text`);
  if (!printable(pass.model))
    problems.push(`model ${JSON.stringify(pass.model)} is not ASCII text`);
  if (pass.vendorId !== pciVendor) {
    problems.push(
      `Identify says vendor 0x${pass.vendorId.toString(16)}, PCI says 0x${pciVendor.toString(16)}`,
    );
  }
  const ns = pass.namespace;
  if (ns && ns.blocks > 0n && (ns.blockSize < 512 || (ns.blockSize & (ns.blockSize - 1)) !== 0)) {
    problems.push(`namespace 1 has ${ns.blockSize}-byte blocks`);
  }
  return problems;
}

/** Runs the NVMe self-test on `bdf` (an NVMe controller bound to vfio-pci). */
export async function nvmeSelftest(
  bdf: string,
  options: NvmeSelftestOptions = {},
): Promise<NvmeSelftestResult> {
  const log = options.log ?? (() => undefined);
  const binding = options.binding ?? nativeBinding();
  const sysfs = options.sysfs ?? new Sysfs();
  const nvme = findNvmeController(sysfs, bdf);
  const pciVendor = parseInt(sysfs.deviceInfo(nvme.bdf).vendor, 16);
  let step = 0;
  const say = (line: string) => log(`${(step += 1)}. ${line}`);
  const locked = () => readMemlockStatus(binding).locked;
  const lockedAtStart = locked();
  log(`locked memory at start: ${kib(lockedAtStart)} (VmLck)`);
  const answers: Answers[] = [];
  const container = Container.open({ binding });
  try {
    const group = container.addGroup(nvme.group);
    container.setIommu('v2');
    const info = container.info();
    say(
      `attached IOMMU group ${group.number} holding ${nvme.bdf}; SPAPR TCE v2, default window ${info.dma32.size >> 20n} MiB at ${hex(info.dma32.start)}`,
    );
    const at = {
      window: 'default' as const,
      iova: info.dma32.start + DEFAULT_WINDOW_IOVA,
      iommuPageSize: 4096n,
    };
    answers.push(await identifyThrough(container, group, nvme, at, say, binding));
    if (info.ddw) {
      // The largest IOMMU page ordinary memory can back: the system page, or less.
      const page = BigInt(binding.pageSize());
      const iommuPageSize = info.ddw.pageSizes.filter((p) => p <= page).pop() ?? 4096n;
      const window = container.createWindow({ pageSize: iommuPageSize, size: DYNAMIC_WINDOW_SIZE });
      say(
        `created a dynamic window of ${DYNAMIC_WINDOW_SIZE >> 20n} MiB in ${kib(iommuPageSize)} pages at ${hex(window.start)}`,
      );
      const dynamic = { window: 'dynamic' as const, iova: window.start, iommuPageSize };
      answers.push(await identifyThrough(container, group, nvme, dynamic, say, binding));
      window.remove();
      say('removed the dynamic window');
    } else {
      say('this host has no dynamic windows: the default window only');
    }
  } finally {
    container.close();
  }
  const identical = answers.every((a) =>
    a.bytes.every((bytes, i) => Buffer.compare(bytes, answers[0].bytes[i]) === 0),
  );
  const problems = [...new Set(answers.flatMap((a) => problemsOf(a.pass, pciVendor)))];
  say(
    `checked: the Identify answers are ${identical ? `the same bytes in ${answers.length} window(s)` : 'DIFFERENT between the windows'}; ` +
      (problems.length === 0
        ? 'serial, model, vendor and block size make sense'
        : problems.join('; ')),
  );
  const lockedAtEnd = locked();
  say(
    `closed the container: locked ${kib(lockedAtEnd)} (start ${kib(lockedAtStart)}); nothing was written to the media`,
  );
  return {
    ...nvme,
    device: 'nvme',
    passes: answers.map((a) => a.pass),
    identical,
    problems,
    lockedAtStart,
    lockedAtEnd,
    ok: identical && problems.length === 0 && lockedAtEnd === lockedAtStart,
  };
}
