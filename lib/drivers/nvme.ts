// An NVMe controller driven from user space through the library (NVMe 1.4): the registers
// and doorbells in the mmap'd BAR0 (little-endian, unlike edu), the queues and data pages in
// a DmaArena the caller places in any DMA window. It brings the controller up with an admin
// queue, identifies the controller and its namespaces, creates I/O queue pairs (polled, or
// with an interrupt vector per completion queue) and reads blocks. It never writes media.
import type { Device } from '../device';
import { ArgumentRangeError, ClosedError, DriverBindError } from '../errors';
import type { MmioRegion } from '../mmio';
import { Sysfs } from '../sysfs';
import type { DmaArena, DmaChunk } from './dma-arena';
import { NvmeControllerFatalError, NvmeTimeoutError } from './nvme-errors';
import {
  parseControllerIdentity,
  parseNamespaceIdentity,
  type NvmeControllerIdentity,
  type NvmeNamespaceIdentity,
} from './nvme-identity';
import { NVME_PAGE, NvmeQueuePair, type NvmeCommand } from './nvme-queue';

/** PCI class of an NVMe controller (mass storage, non-volatile memory, NVM Express), as sysfs spells it. */
export const NVME_CLASS = '0x010802';

// Controller registers (NVMe 1.4, section 3.1)
const CAP = 0x00; // MQES 15:0, TO 31:24 (500 ms units), DSTRD 35:32, MPSMIN 51:48
const VS = 0x08;
const CC = 0x14; // EN bit 0, MPS 10:7, IOSQES 19:16, IOCQES 23:20
const CSTS = 0x1c; // RDY bit 0, CFS bit 1
const AQA = 0x24; // admin queue sizes - 1: ACQS 27:16, ASQS 11:0
const ASQ = 0x28;
const ACQ = 0x30;
const CC_ENABLE = 1 | (6 << 16) | (4 << 20); // EN, 64-byte SQ entries, 16-byte CQ entries, 4K pages

// Admin opcodes
const DELETE_IO_SQ = 0x00;
const CREATE_IO_SQ = 0x01;
const DELETE_IO_CQ = 0x04;
const CREATE_IO_CQ = 0x05;
const IDENTIFY = 0x06;
const SET_FEATURES = 0x09;
const FEATURE_NUMBER_OF_QUEUES = 0x07;
const CNS_NAMESPACE = 0x00;
const CNS_CONTROLLER = 0x01;

export interface NvmeOptions {
  /** Admin queue entries (default 16). */
  adminEntries?: number;
  /** How long a command may take before NvmeTimeoutError (default 10 s). */
  commandTimeoutMs?: number;
}

export interface NvmeQueuePairOptions {
  /** Queue ID, 1 to the count requestIoQueues granted. */
  id: number;
  /** Entries in each queue (default 16; at most CAP.MQES + 1). */
  entries?: number;
  /** MSI-X/MSI vector of the completion queue: sets IEN. Omitted: no interrupt (IEN 0). */
  interruptVector?: number;
  /** Poll for completions (default: true without an interrupt vector). */
  poll?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class NvmeController {
  readonly bar: MmioRegion;
  /** CAP as read at open. */
  readonly cap: bigint;
  /** Entries a queue may have (CAP.MQES + 1). */
  readonly maxQueueEntries: number;
  readonly doorbellStride: number;
  /** CAP.TO: the longest CSTS.RDY may take to follow CC.EN. */
  readonly readyTimeoutMs: number;
  /** VS, e.g. 0x00010400 for 1.4. */
  readonly version: number;
  readonly admin: NvmeQueuePair;
  private readonly data: DmaChunk;
  private readonly timeoutMs: number;
  private maxTransfer: number | null = null;
  private grantedQueues: number | null = null;
  private readonly ioQueues = new Map<number, NvmeQueuePair>();
  private closed = false;

  private constructor(
    readonly device: Device,
    private readonly memory: DmaArena,
    options: NvmeOptions,
  ) {
    this.timeoutMs = options.commandTimeoutMs ?? 10000;
    this.bar = device.mapRegion(0, { endianness: 'little' });
    this.cap = this.bar.read64(CAP);
    this.maxQueueEntries = Number(this.cap & 0xffffn) + 1;
    this.doorbellStride = 4 << Number((this.cap >> 32n) & 0xfn);
    this.readyTimeoutMs = Math.max(1, Number((this.cap >> 24n) & 0xffn)) * 500;
    this.version = this.bar.read32(VS);
    if (4096 << Number((this.cap >> 48n) & 0xfn) > NVME_PAGE) {
      this.bar.unmap();
      throw new ArgumentRangeError(
        `${device.name}: the controller's smallest memory page (CAP.MPSMIN) is above 4 KiB; this driver uses 4 KiB pages`,
      );
    }
    this.admin = this.queuePair(0, options.adminEntries ?? 16, null, true);
    this.data = memory.take(NVME_PAGE, NVME_PAGE);
  }

  /** Maps BAR0 and turns bus mastering on; the controller stays as it was until enable(). */
  static open(device: Device, memory: DmaArena, options: NvmeOptions = {}): NvmeController {
    device.enableBusMaster();
    return new NvmeController(device, memory, options);
  }

  /** Resets the controller (CC.EN 0), then enables it with the admin queue in the arena. */
  async enable(): Promise<void> {
    await this.disable();
    const entries = this.admin.entries;
    this.bar.write32(AQA, ((entries - 1) << 16) | (entries - 1));
    this.bar.write64(ASQ, this.admin.submissionQueue.iova);
    this.bar.write64(ACQ, this.admin.completionQueue.iova);
    this.bar.write32(CC, CC_ENABLE);
    await this.waitReady(true);
  }

  /** CC.EN 0 and CSTS.RDY 0: the controller drops every queue and forgets its state. */
  async disable(): Promise<void> {
    this.assertOpen();
    this.bar.write32(CC, 0);
    for (const queue of [this.admin, ...this.ioQueues.values()]) queue.abandon();
    this.ioQueues.clear();
    this.grantedQueues = null;
    await this.waitReady(false);
    this.admin.reset();
  }

  /** Identify Controller (CNS 1). */
  async identifyController(): Promise<NvmeControllerIdentity> {
    const identity = parseControllerIdentity(await this.identify(CNS_CONTROLLER, 0, 'controller'));
    this.maxTransfer = identity.mdts === 0 ? null : 2 ** identity.mdts * NVME_PAGE;
    return identity;
  }

  /** Identify Namespace (CNS 0) of `nsid`. */
  async identifyNamespace(nsid = 1): Promise<NvmeNamespaceIdentity> {
    if (!Number.isInteger(nsid) || nsid < 1 || nsid >= 0xffffffff) {
      throw new ArgumentRangeError(`namespace ID must be 1 to 0xfffffffe, got ${nsid}`);
    }
    return parseNamespaceIdentity(
      nsid,
      await this.identify(CNS_NAMESPACE, nsid, `namespace ${nsid}`),
    );
  }

  /** Set Features, Number of Queues: asks for `count` I/O queue pairs; returns how many were granted. */
  async requestIoQueues(count: number): Promise<number> {
    if (!Number.isInteger(count) || count < 1 || count > 0xffff) {
      throw new ArgumentRangeError(`I/O queue count must be 1 to 65535, got ${count}`);
    }
    const { result } = await this.admin.submit({
      what: `Set Features (Number of Queues: ${count})`,
      opcode: SET_FEATURES,
      cdw: [FEATURE_NUMBER_OF_QUEUES, ((count - 1) << 16) | (count - 1)],
    });
    this.grantedQueues = Math.min(result & 0xffff, result >>> 16) + 1;
    return this.grantedQueues;
  }

  /**
   * Creates an I/O completion queue and its submission queue with the same ID, both in the
   * arena. Requests queues (Set Features) first if that was not done since enable().
   */
  async createIoQueuePair(options: NvmeQueuePairOptions): Promise<NvmeQueuePair> {
    const { id } = options;
    const entries = options.entries ?? 16;
    const vector = options.interruptVector;
    if (!Number.isInteger(id) || id < 1 || id > 0xffff || this.ioQueues.has(id)) {
      throw new ArgumentRangeError(`I/O queue ID must be a free ID from 1 to 65535, got ${id}`);
    }
    if (!Number.isInteger(entries) || entries < 2 || entries > this.maxQueueEntries) {
      throw new ArgumentRangeError(
        `a queue has 2 to ${this.maxQueueEntries} entries (CAP.MQES), got ${entries}`,
      );
    }
    if (vector !== undefined && (!Number.isInteger(vector) || vector < 0 || vector > 0xffff)) {
      throw new ArgumentRangeError(`interrupt vector must be 0 to 65535, got ${vector}`);
    }
    if (this.grantedQueues === null) await this.requestIoQueues(id);
    if (id > (this.grantedQueues ?? 0)) {
      throw new ArgumentRangeError(
        `queue ID ${id} is above the ${this.grantedQueues} I/O queue pair(s) the controller granted`,
      );
    }
    const queue = this.queuePair(id, entries, vector ?? null, options.poll ?? vector === undefined);
    const sizeAndId = ((entries - 1) << 16) | id;
    const interrupts = vector === undefined ? 0 : (vector << 16) | 0x2;
    await this.admin.submit({
      what: `Create I/O Completion Queue ${id}`,
      opcode: CREATE_IO_CQ,
      prp1: queue.completionQueue.iova,
      cdw: [sizeAndId, interrupts | 0x1], // physically contiguous
    });
    await this.admin.submit({
      what: `Create I/O Submission Queue ${id}`,
      opcode: CREATE_IO_SQ,
      prp1: queue.submissionQueue.iova,
      cdw: [sizeAndId, (id << 16) | 0x1], // completions to CQ `id`, physically contiguous
    });
    this.ioQueues.set(id, queue);
    return queue;
  }

  /** Deletes an I/O queue pair (submission queue first, as the specification requires). */
  async deleteIoQueuePair(queue: NvmeQueuePair): Promise<void> {
    if (this.ioQueues.get(queue.id) !== queue) {
      throw new ArgumentRangeError(`I/O queue ${queue.id} is not a live queue of this controller`);
    }
    this.ioQueues.delete(queue.id);
    queue.abandon();
    await this.admin.submit({
      what: `Delete I/O SQ ${queue.id}`,
      opcode: DELETE_IO_SQ,
      cdw: [queue.id],
    });
    await this.admin.submit({
      what: `Delete I/O CQ ${queue.id}`,
      opcode: DELETE_IO_CQ,
      cdw: [queue.id],
    });
  }

  /** Disables the controller, turns bus mastering off and unmaps BAR0 (the arena stays the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.disable();
    } finally {
      this.closed = true;
      this.device.disableBusMaster();
      this.bar.unmap();
    }
  }

  private async identify(cns: number, nsid: number, what: string): Promise<Uint8Array> {
    const command: NvmeCommand = {
      what: `Identify ${what}`,
      opcode: IDENTIFY,
      nsid,
      prp1: this.data.iova,
      cdw: [cns],
    };
    this.data.bytes.fill(0);
    await this.admin.submit(command);
    return Uint8Array.from(this.data.bytes);
  }

  private queuePair(id: number, entries: number, vector: number | null, poll: boolean) {
    return new NvmeQueuePair({
      bar: this.bar,
      id,
      entries,
      doorbellStride: this.doorbellStride,
      memory: this.memory,
      interruptVector: vector,
      poll,
      timeoutMs: this.timeoutMs,
      maxTransfer: () => this.maxTransfer,
    });
  }

  /** Polls CSTS.RDY until it equals `ready`, within the controller's own timeout (CAP.TO). */
  private async waitReady(ready: boolean): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      const csts = this.bar.read32(CSTS);
      if (csts & 2) {
        throw new NvmeControllerFatalError({ what: `waiting for CSTS.RDY ${Number(ready)}`, csts });
      }
      if (Boolean(csts & 1) === ready) return;
      if (Date.now() > deadline) {
        throw new NvmeTimeoutError({
          what: `CSTS.RDY ${Number(ready)}`,
          timeoutMs: this.readyTimeoutMs,
        });
      }
      await sleep(1);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError({ what: `NVMe controller ${this.device.name}` });
  }
}

export interface NvmeDevice {
  bdf: string;
  group: number;
}

/**
 * The NVMe controller to use: `bdf` if given (it must be an NVMe controller on vfio-pci),
 * else the first NVMe controller bound to vfio-pci.
 */
export function findNvmeController(sysfs: Sysfs = new Sysfs(), bdf?: string): NvmeDevice {
  const devices = sysfs.listIommuGroups().flatMap((g) => g.devices);
  const found = devices.find((d) =>
    bdf !== undefined ? d.bdf === bdf : d.class === NVME_CLASS && d.driver === 'vfio-pci',
  );
  if (found && found.class !== NVME_CLASS) {
    throw new ArgumentRangeError(
      `${found.bdf} has PCI class ${found.class}, not NVMe (${NVME_CLASS})`,
    );
  }
  if (!found || found.driver !== 'vfio-pci' || found.iommuGroup === null) {
    throw new DriverBindError({
      device: found?.bdf ?? bdf ?? null,
      problem: found
        ? `${found.bdf} is bound to ${found.driver ?? 'no driver'}, not vfio-pci: run \`vfio-spapr bind ${found.bdf}\` as root`
        : `no ${bdf ?? 'NVMe controller'} on vfio-pci: see \`vfio-spapr list\``,
    });
  }
  return { bdf: found.bdf, group: found.iommuGroup };
}
