// The NVMe driver's errors: a command the controller completed with an error status, a
// controller that stopped answering in time, and a controller that reports a fatal status.
// They belong to `vfio-spapr/drivers`, not to the library's API.
import { VfioError } from '../errors';

const hex = (n: number) => `0x${n.toString(16)}`;

/** A command completed with a non-zero status (NVMe 1.4, figure 126: SCT and SC). */
export class NvmeCommandError extends VfioError {
  readonly queue: number;
  readonly opcode: number;
  readonly commandId: number;
  /** Status Code Type (0 generic, 1 command specific, 2 media, ...). */
  readonly statusCodeType: number;
  readonly statusCode: number;
  constructor(facts: {
    what: string;
    queue: number;
    opcode: number;
    commandId: number;
    statusCodeType: number;
    statusCode: number;
  }) {
    super(
      'ERR_VFIO_NVME_COMMAND',
      `${facts.what} (opcode ${hex(facts.opcode)}, command ${facts.commandId} on queue ` +
        `${facts.queue}) completed with status type ${facts.statusCodeType} code ` +
        `${hex(facts.statusCode)}: see the NVMe specification's status codes; the controller ` +
        'refused the command as sent',
    );
    this.queue = facts.queue;
    this.opcode = facts.opcode;
    this.commandId = facts.commandId;
    this.statusCodeType = facts.statusCodeType;
    this.statusCode = facts.statusCode;
  }
}

/** The controller did not reach a state, or complete a command, within its time. */
export class NvmeTimeoutError extends VfioError {
  readonly what: string;
  readonly timeoutMs: number;
  constructor(facts: { what: string; timeoutMs: number }) {
    super(
      'ERR_VFIO_NVME_TIMEOUT',
      `${facts.what} did not happen within ${facts.timeoutMs} ms: check that bus mastering is ` +
        'on and the queues are mapped where the controller was told (a DMA it cannot make ' +
        'never completes); a reset of the device may be needed',
    );
    this.what = facts.what;
    this.timeoutMs = facts.timeoutMs;
  }
}

/** CSTS.CFS: the controller reports a fatal error and needs a reset. */
export class NvmeControllerFatalError extends VfioError {
  readonly what: string;
  readonly csts: number;
  constructor(facts: { what: string; csts: number }) {
    super(
      'ERR_VFIO_NVME_FATAL',
      `${facts.what}: the controller reports a fatal status (CSTS ${hex(facts.csts)}, CFS set): ` +
        'reset the device (Device.reset) before using it again',
    );
    this.what = facts.what;
    this.csts = facts.csts;
  }
}

/** A submission queue with no free slot: the commands in flight must complete first. */
export class NvmeQueueFullError extends VfioError {
  readonly queue: number;
  readonly inFlight: number;
  constructor(facts: { what: string; queue: number; inFlight: number; capacity: number }) {
    super(
      'ERR_VFIO_NVME_QUEUE_FULL',
      `${facts.what}: queue ${facts.queue} is full (${facts.inFlight} commands in flight of ` +
        `${facts.capacity}); await some first`,
    );
    this.queue = facts.queue;
    this.inFlight = facts.inFlight;
  }
}
