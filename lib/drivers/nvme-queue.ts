// One NVMe submission/completion queue pair in DMA memory (NVMe 1.4, section 4): commands
// are written at the submission tail and announced through its doorbell; the controller
// posts completions whose phase bit flips on each pass through the ring. Completions are
// found by polling, or by processCompletions() when the caller routes the queue's interrupt.
import { ArgumentRangeError, ClosedError } from '../errors';
import type { MmioRegion } from '../mmio';
import type { DmaArena, DmaChunk } from './dma-arena';
import {
  NvmeCommandError,
  NvmeControllerFatalError,
  NvmeQueueFullError,
  NvmeTimeoutError,
} from './nvme-errors';

export const SUBMISSION_ENTRY_BYTES = 64;
export const COMPLETION_ENTRY_BYTES = 16;
/** The memory page size the driver programs (CC.MPS 0): PRPs point at 4 KiB pages. */
export const NVME_PAGE = 4096;
const CSTS_CFS = 0x2;
const IO_READ = 0x02;

export interface NvmeCommand {
  /** What the command is for, in error messages. */
  what: string;
  opcode: number;
  nsid?: number;
  prp1?: bigint;
  prp2?: bigint;
  /** Command dwords 10 to 15. */
  cdw?: [number?, number?, number?, number?, number?, number?];
}

export interface NvmeCompletion {
  /** Command specific (dword 0). */
  result: number;
  commandId: number;
}

/** What READ needs of a namespace (an Identify Namespace answer has it). */
export interface NvmeBlockNamespace {
  nsid: number;
  blockSize: number;
}

export interface QueuePairSetup {
  bar: MmioRegion;
  id: number;
  entries: number;
  doorbellStride: number;
  memory: DmaArena;
  /** Null: the completion queue raises no interrupt (IEN 0). */
  interruptVector: number | null;
  /** Poll for completions; false when the caller calls processCompletions() on interrupts. */
  poll: boolean;
  timeoutMs: number;
  /** Largest READ in bytes (the controller's MDTS), or null when it has no limit (or is not known yet). */
  maxTransfer: () => number | null;
}

interface Pending {
  command: NvmeCommand;
  resolve(completion: NvmeCompletion): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class NvmeQueuePair {
  readonly id: number;
  readonly entries: number;
  readonly submissionQueue: DmaChunk;
  readonly completionQueue: DmaChunk;
  readonly interruptVector: number | null;
  private readonly bar: MmioRegion;
  private readonly memory: DmaArena;
  private readonly sqDoorbell: number;
  private readonly cqDoorbell: number;
  private readonly poll: boolean;
  private readonly timeoutMs: number;
  private readonly maxTransfer: () => number | null;
  private tail = 0;
  private head = 0;
  private phase = 1;
  /** The controller's submission head, as its last completion reported it. */
  private sqHead = 0;
  private readonly pending = new Map<number, Pending>();
  /** One PRP list page per command id, taken from the arena when a READ first needs it. */
  private readonly prpLists = new Map<number, DmaChunk>();
  private polling = false;

  constructor(setup: QueuePairSetup) {
    this.id = setup.id;
    this.entries = setup.entries;
    this.bar = setup.bar;
    this.memory = setup.memory;
    this.interruptVector = setup.interruptVector;
    this.poll = setup.poll;
    this.timeoutMs = setup.timeoutMs;
    this.maxTransfer = setup.maxTransfer;
    this.submissionQueue = setup.memory.take(setup.entries * SUBMISSION_ENTRY_BYTES, NVME_PAGE);
    this.completionQueue = setup.memory.take(setup.entries * COMPLETION_ENTRY_BYTES, NVME_PAGE);
    this.sqDoorbell = 0x1000 + 2 * setup.id * setup.doorbellStride;
    this.cqDoorbell = this.sqDoorbell + setup.doorbellStride;
  }

  /** Commands submitted and not completed. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Writes the command at the tail, rings the doorbell, resolves with its completion. */
  submit(command: NvmeCommand): Promise<NvmeCompletion> {
    return this.submitWith(this.freeCommandId(command), command);
  }

  /**
   * READ (NVM command set) of `blocks` logical blocks from `lba` into memory the device sees
   * at `iova` (dword aligned; PRP lists are built for transfers past two pages).
   */
  read(namespace: NvmeBlockNamespace, lba: bigint, blocks: number, iova: bigint) {
    if (!Number.isInteger(blocks) || blocks < 1 || blocks > 0x10000) {
      throw new ArgumentRangeError(`READ takes 1 to 65536 blocks, got ${blocks}`);
    }
    if (lba < 0n || lba + BigInt(blocks) > 1n << 64n) {
      throw new ArgumentRangeError(`LBA ${lba} + ${blocks} blocks is not a 64-bit block range`);
    }
    const bytes = blocks * namespace.blockSize;
    const max = this.maxTransfer();
    if (max !== null && bytes > max) {
      throw new ArgumentRangeError(
        `READ of ${bytes} bytes exceeds the controller's largest transfer (${max}, MDTS)`,
      );
    }
    const command: NvmeCommand = {
      what: `READ of ${blocks} block(s) at LBA ${lba} of namespace ${namespace.nsid}`,
      opcode: IO_READ,
      nsid: namespace.nsid,
      cdw: [Number(lba & 0xffffffffn), Number(lba >> 32n), blocks - 1],
    };
    const cid = this.freeCommandId(command);
    [command.prp1, command.prp2] = this.prps(cid, iova, bytes);
    return this.submitWith(cid, command);
  }

  /**
   * Consumes every new completion: resolves its command and moves the completion head
   * doorbell. Call it when the queue's interrupt fires; polled queues call it themselves.
   */
  processCompletions(): number {
    const cq = this.completionQueue.view;
    let count = 0;
    for (;;) {
      const at = this.head * COMPLETION_ENTRY_BYTES;
      if (((cq.getUint32(at + 12, true) >>> 16) & 1) !== this.phase) break;
      // The MMIO read is a full sync: the entry's other words, and the data the command
      // wrote, are read after the phase bit (POWER reorders loads; this is dma_rmb).
      const csts = this.bar.read32(0x1c);
      if (csts & CSTS_CFS) {
        this.failAll(new NvmeControllerFatalError({ what: `queue ${this.id}`, csts }));
        break;
      }
      const result = cq.getUint32(at, true);
      this.sqHead = cq.getUint32(at + 8, true) & 0xffff;
      const dw3 = cq.getUint32(at + 12, true);
      this.head = (this.head + 1) % this.entries;
      if (this.head === 0) this.phase ^= 1;
      count += 1;
      this.complete(dw3 & 0xffff, result, dw3 >>> 17);
    }
    if (count > 0) this.bar.write32(this.cqDoorbell, this.head);
    return count;
  }

  /** Empty queues, as a controller reset leaves them (only the admin queue outlives a reset). */
  reset(): void {
    this.abandon();
    this.completionQueue.bytes.fill(0);
    this.tail = 0;
    this.head = 0;
    this.sqHead = 0;
    this.phase = 1;
  }

  /** Fails what is still in flight: the queue is being deleted or the controller disabled. */
  abandon(): void {
    this.failAll(new ClosedError({ what: `NVMe queue ${this.id}` }));
  }

  private freeCommandId(command: NvmeCommand): number {
    if ((this.tail + 1) % this.entries === this.sqHead || this.pending.size >= this.entries - 1) {
      throw new NvmeQueueFullError({
        what: command.what,
        queue: this.id,
        inFlight: this.pending.size,
        capacity: this.entries - 1,
      });
    }
    let cid = 0;
    while (this.pending.has(cid)) cid += 1;
    return cid;
  }

  private submitWith(cid: number, command: NvmeCommand): Promise<NvmeCompletion> {
    const sq = this.submissionQueue.view;
    const at = this.tail * SUBMISSION_ENTRY_BYTES;
    new Uint8Array(sq.buffer, sq.byteOffset + at, SUBMISSION_ENTRY_BYTES).fill(0);
    sq.setUint32(at, command.opcode | (cid << 16), true);
    sq.setUint32(at + 4, command.nsid ?? 0, true);
    sq.setBigUint64(at + 24, command.prp1 ?? 0n, true);
    sq.setBigUint64(at + 32, command.prp2 ?? 0n, true);
    (command.cdw ?? []).forEach((dword, i) => sq.setUint32(at + 40 + 4 * i, dword ?? 0, true));
    const promise = new Promise<NvmeCompletion>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cid);
        reject(
          new NvmeTimeoutError({
            what: `completion of ${command.what}`,
            timeoutMs: this.timeoutMs,
          }),
        );
      }, this.timeoutMs);
      this.pending.set(cid, { command, resolve, reject, timer });
    });
    this.tail = (this.tail + 1) % this.entries;
    // writel's sync orders the entry's stores before the doorbell store.
    this.bar.write32(this.sqDoorbell, this.tail);
    if (this.poll && !this.polling) void this.pollUntilIdle();
    return promise;
  }

  private async pollUntilIdle(): Promise<void> {
    this.polling = true;
    try {
      while (this.pending.size > 0) {
        if (this.processCompletions() === 0) await sleep(1);
      }
    } finally {
      this.polling = false;
    }
  }

  private complete(cid: number, result: number, status: number): void {
    const pending = this.pending.get(cid);
    if (!pending) return; // timed out meanwhile
    this.pending.delete(cid);
    clearTimeout(pending.timer);
    if (status === 0) {
      pending.resolve({ result, commandId: cid });
      return;
    }
    pending.reject(
      new NvmeCommandError({
        what: pending.command.what,
        queue: this.id,
        opcode: pending.command.opcode,
        commandId: cid,
        statusCodeType: (status >>> 8) & 0x7,
        statusCode: status & 0xff,
      }),
    );
  }

  private failAll(error: Error): void {
    for (const [cid, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(cid);
      pending.reject(error);
    }
  }

  /** PRP1 and PRP2 for `bytes` at `iova`: a second page, or a list of the pages after the first. */
  private prps(cid: number, iova: bigint, bytes: number): [bigint, bigint] {
    if (iova % 4n !== 0n)
      throw new ArgumentRangeError(`data IOVA 0x${iova.toString(16)} is not dword aligned`);
    const page = BigInt(NVME_PAGE);
    const firstPageBytes = Number(page - (iova % page));
    if (bytes <= firstPageBytes) return [iova, 0n];
    const next = iova - (iova % page) + page;
    const pages = Math.ceil((bytes - firstPageBytes) / NVME_PAGE);
    if (pages === 1) return [iova, next];
    if (pages > NVME_PAGE / 8) {
      throw new ArgumentRangeError(
        `a transfer of ${bytes} bytes needs more than one PRP list page`,
      );
    }
    let list = this.prpLists.get(cid);
    if (!list) {
      list = this.memory.take(NVME_PAGE, NVME_PAGE);
      this.prpLists.set(cid, list);
    }
    for (let i = 0; i < pages; i += 1) list.view.setBigUint64(i * 8, next + BigInt(i) * page, true);
    return [iova, list.iova];
  }
}
