// The strict half of the API fuzzer's verdict: the library keeps books so that the kernel
// never has to refuse. A call the books let through to the kernel (registration, DMA map and
// unmap, windows, v1 enable) that the kernel then refused is a finding, printed with its seed
// and step, unless it is one of the few refusals below that only the kernel can make. The
// recorder wraps the binding the fuzzed library uses and notes each such refusal.
import { TceTableAllocationError, type Container } from '../../lib';
import type { NativeBinding, NativeError } from '../../lib/binding';

/**
 * The native calls whose preconditions the library's books decide. Opening groups and
 * devices, EEH, device and MMIO calls answer for state the books do not hold (another
 * process may have the group open; the device's own state): their errors are typed outcomes.
 */
const BOOKED_CALLS = new Set<keyof NativeBinding>([
  'setIommu',
  'iommuEnable',
  'iommuDisable',
  'registerMemory',
  'registerMemoryAsync',
  'unregisterMemory',
  'mapDma',
  'mapDmaBatch',
  'unmapDma',
  'spaprTceCreate',
  'spaprTceRemove',
]);

export interface KernelRefusal {
  /** The fuzzer's step whose call reached the kernel. */
  step: number;
  call: string;
  /** The errno name ('EINVAL') or the native layer's code. */
  code: string;
  args: readonly unknown[];
  /** What the fuzzer knew of the call's range when the kernel refused it. */
  facts: RangeFacts;
}

export interface RangeFacts {
  /** The range lies in memory the library allocated and has not freed (DmaBuffer). */
  inLibraryMemory: boolean;
}

/** The facts of a registration's range [address, address + size). */
export type DescribeRange = (address: bigint, size: bigint) => RangeFacts;

/** The binding the fuzzed library uses, noting every booked call the kernel refused. */
export class KernelCallRecorder {
  readonly binding: NativeBinding;
  /** The step the fuzzer is on: a call is the step's that made it, even when it settles later. */
  step = 0;
  private refusals: KernelRefusal[] = [];

  constructor(target: NativeBinding, describe: DescribeRange) {
    const note = (call: string, args: unknown[], step: number, error: unknown) => {
      const code = (error as Partial<NativeError>)?.code;
      // Argument errors the native layer raises are the library's to prevent, not refusals.
      if (typeof code !== 'string' || error instanceof TypeError || error instanceof RangeError)
        return;
      const [, address, size] = args as [unknown, bigint, bigint];
      const facts = call.startsWith('registerMemory')
        ? describe(address, size)
        : { inLibraryMemory: false };
      this.refusals.push({ step, call, code, args, facts });
    };
    this.binding = new Proxy(target, {
      get: (object, key, receiver) => {
        const value = Reflect.get(object, key, receiver) as unknown;
        if (typeof value !== 'function' || !BOOKED_CALLS.has(key as keyof NativeBinding)) {
          return value;
        }
        return (...args: unknown[]) => {
          const step = this.step;
          try {
            const result = (value as (...a: unknown[]) => unknown).apply(object, args);
            if (!(result instanceof Promise)) return result;
            return result.catch((error: unknown) => {
              note(key as string, args, step, error);
              throw error;
            });
          } catch (error) {
            note(key as string, args, step, error);
            throw error;
          }
        };
      },
    });
  }

  /** The refusals of one step, or (no step) all of them, noted since the last take. */
  take(step?: number): KernelRefusal[] {
    const taken = this.refusals.filter((r) => step === undefined || r.step === step);
    this.refusals = this.refusals.filter((r) => !taken.includes(r));
    return taken;
  }
}

/** What the fuzzer knows when it judges a refusal. */
export interface RefusalContext {
  refusal: KernelRefusal;
  /** The error the library threw for it (undefined when the step had settled already). */
  error: unknown;
  /** The open container whose fd the call used, as it is right after the call. */
  container: Container | undefined;
}

/** A refusal the verdict explains: its calls and errno, the condition, and why. */
export interface ExplainedRefusal {
  calls: readonly string[];
  code: string;
  why: string;
  applies(context: RefusalContext): boolean;
}

/**
 * The refusals only the kernel can make (docs/fuzz.md). The fuzzer checks what each leaves
 * behind: the charge a failed window creation strands is measured against VmLck.
 */
export const KERNEL_ONLY_REFUSALS: readonly ExplainedRefusal[] = [
  {
    calls: ['spaprTceCreate'],
    code: 'ENOMEM',
    why:
      "a TCE table level the page allocator's largest free block cannot hold: the library " +
      'refuses levels larger than its largest order, but a fragmented allocator may have no ' +
      'block of that order free (TceTableAllocationError, with the stranded charge)',
    applies: ({ error }) => error instanceof TceTableAllocationError && error.strandedBytes > 0n,
  },
  {
    calls: ['registerMemory', 'registerMemoryAsync'],
    code: 'EFAULT',
    why:
      'registerCallerOwnedMemory of a range not mapped in the process: the caller vouches for ' +
      'its own memory, and only the page tables know what is mapped (memory the library ' +
      'allocated is never refused so: that would be a finding)',
    applies: ({ refusal }) => !refusal.facts.inLibraryMemory,
  },
];

/**
 * Findings of this verdict in the library itself, whose fix belongs to the code's owner: each
 * is counted and printed in every run's summary ("known library findings"), not failed, and
 * names its fix. Delete the entry with the fix; anything else of the kind fails.
 */
export const KNOWN_LIBRARY_FINDINGS: readonly ExplainedRefusal[] = [
  {
    calls: ['mapDma'],
    code: 'EPERM',
    why:
      'a group of a v1 container leaves after disable() with mappings live: the library ' +
      're-installs the mappings (what v2 needs, test/vm/faults.test.ts) although it knows the ' +
      'v1 container is disabled, and the kernel refuses MAP there; fix in the container ' +
      '(no re-install while disabled, or refuse disable() with live mappings)',
    applies: ({ container }) => container?.iommuType === 'v1' && !container.enabled,
  },
];

function find(list: readonly ExplainedRefusal[], context: RefusalContext) {
  const { call, code } = context.refusal;
  return list.find((e) => e.calls.includes(call) && e.code === code && e.applies(context));
}

/** How the verdict explains a refusal: only the kernel could know, a known finding, or not. */
export function explain(context: RefusalContext): 'kernel-only' | 'known' | null {
  if (find(KERNEL_ONLY_REFUSALS, context)) return 'kernel-only';
  if (find(KNOWN_LIBRARY_FINDINGS, context)) return 'known';
  return null;
}
