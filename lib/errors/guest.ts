// The errors of the guest side (lib/guest/): a guest's TCE hypercall or DDW RTAS call the
// library refuses, each naming the status a VMM returns to the guest, and the VMM's own
// mistakes with guest RAM slots and guest windows.
import { VfioError } from './base';
import { formatRange } from './dma';

/** PAPR hypercall return codes a VMM gives the guest. */
export const H_SUCCESS = 0;
export const H_HARDWARE = -1;
export const H_PARAMETER = -4;
/** RTAS return codes of the DDW calls. */
export const RTAS_SUCCESS = 0;
export const RTAS_HARDWARE_ERROR = -1;
export const RTAS_PARAMETER_ERROR = -3;

/** Why a guest's TCE request is refused (the addon's names, native/guest_table.h). */
export type TceRefusal =
  | 'ioba-misaligned'
  | 'ioba-outside-window'
  | 'gpa-misaligned'
  | 'gpa-outside-slots'
  | 'gpa-crosses-slot-end'
  | 'backing-page'
  | 'too-many-entries'
  | 'list-short'
  | 'list-misaligned'
  | 'list-outside-slots'
  | 'unknown-liobn';

const REFUSAL_TEXT: Record<TceRefusal, string> = {
  'ioba-misaligned': "the IOBA is not aligned to the window's IOMMU page",
  'ioba-outside-window': 'the IOBA range is not inside the window',
  'gpa-misaligned': "the TCE's guest-physical address is not aligned to the window's IOMMU page",
  'gpa-outside-slots': "the TCE's guest-physical address is in no guest RAM slot",
  'gpa-crosses-slot-end': "the TCE's page runs past the end of its guest RAM slot",
  'backing-page':
    "the slot's host memory is backed by pages smaller than the window's IOMMU page (or not " +
    'aligned to it): the host cannot map it',
  'too-many-entries': 'H_PUT_TCE_INDIRECT takes at most 512 entries',
  'list-short': 'the TCE list holds fewer entries than its count',
  'list-misaligned': 'the TCE list is not 4 KiB aligned',
  'list-outside-slots': 'the TCE list is in no guest RAM slot',
  'unknown-liobn': 'no guest window has this LIOBN',
};

/**
 * A guest TCE hypercall the library refused before the kernel was asked. `hcallStatus` is what
 * the VMM returns to the guest (H_PARAMETER, or H_HARDWARE when the host cannot serve a valid
 * request); the entries before `index` were done, as the hypercall does them.
 */
export class GuestTceRefusedError extends VfioError {
  readonly hcall: string;
  readonly reason: TceRefusal;
  readonly hcallStatus: number;
  readonly liobn: number;
  readonly ioba: bigint;
  /** The refused entry of a batch; the entries before it were done. */
  readonly index: number;
  constructor(facts: {
    hcall: string;
    reason: TceRefusal;
    liobn: number;
    ioba: bigint;
    index: number;
  }) {
    const hcallStatus = facts.reason === 'backing-page' ? H_HARDWARE : H_PARAMETER;
    super(
      'ERR_VFIO_GUEST_TCE_REFUSED',
      `${facts.hcall} on LIOBN 0x${facts.liobn.toString(16)} at IOBA 0x${facts.ioba.toString(16)}` +
        (facts.index > 0 ? `, entry ${facts.index}` : '') +
        `: ${REFUSAL_TEXT[facts.reason]}; return ${hcallStatus === H_PARAMETER ? 'H_PARAMETER' : 'H_HARDWARE'} ` +
        `(${hcallStatus}) to the guest` +
        (facts.index > 0 ? ` (the ${facts.index} entries before it are done)` : ''),
    );
    this.hcall = facts.hcall;
    this.reason = facts.reason;
    this.hcallStatus = hcallStatus;
    this.liobn = facts.liobn;
    this.ioba = facts.ioba;
    this.index = facts.index;
  }
}

/** A DDW RTAS call refused: `rtasStatus` is what the VMM returns to the guest. */
export class GuestWindowRefusedError extends VfioError {
  readonly call: string;
  readonly rtasStatus: number;
  readonly problem: string;
  constructor(facts: { call: string; rtasStatus: number; problem: string }) {
    super(
      'ERR_VFIO_GUEST_WINDOW_REFUSED',
      `${facts.call}: ${facts.problem}; return ${facts.rtasStatus} ` +
        `(${facts.rtasStatus === RTAS_PARAMETER_ERROR ? 'parameter error' : 'hardware error'}) to the guest`,
    );
    this.call = facts.call;
    this.rtasStatus = facts.rtasStatus;
    this.problem = facts.problem;
  }
}

/** Removing a guest RAM slot while guest TCEs still point into it. */
export class SlotInUseError extends VfioError {
  readonly gpa: bigint;
  readonly size: bigint;
  /** Live guest TCEs pointing into the slot. */
  readonly users: number;
  constructor(facts: { gpa: bigint; size: bigint; users: number }) {
    super(
      'ERR_VFIO_SLOT_IN_USE',
      `guest RAM slot ${formatRange(facts.gpa, facts.size)} still has ${facts.users} live guest ` +
        'TCE(s) pointing into it: the device could still reach it; the guest must clear them ' +
        '(H_STUFF_TCE or H_PUT_TCE with no permission) before the slot is removed',
    );
    this.gpa = facts.gpa;
    this.size = facts.size;
    this.users = facts.users;
  }
}

/** A guest RAM slot whose guest-physical range overlaps another slot. */
export class SlotOverlapError extends VfioError {
  readonly gpa: bigint;
  readonly size: bigint;
  readonly conflict: { start: bigint; size: bigint };
  constructor(facts: { gpa: bigint; size: bigint; conflict: { start: bigint; size: bigint } }) {
    super(
      'ERR_VFIO_SLOT_OVERLAP',
      `guest RAM slot ${formatRange(facts.gpa, facts.size)} overlaps the slot ` +
        `${formatRange(facts.conflict.start, facts.conflict.size)}`,
    );
    this.gpa = facts.gpa;
    this.size = facts.size;
    this.conflict = facts.conflict;
  }
}

/**
 * A container call on a window a guest TCE table serves (map into it, remove it), or on a
 * region that backs a guest RAM slot: those go through the guest IOMMU.
 */
export class GuestOwnedError extends VfioError {
  readonly what: string;
  constructor(facts: { what: string; remedy: string }) {
    super('ERR_VFIO_GUEST_OWNED', `${facts.what} is served by the guest IOMMU: ${facts.remedy}`);
    this.what = facts.what;
  }
}
