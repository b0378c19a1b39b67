// The guest IOMMU calls of the fake binding. Their rules and shadow are the addon's own
// (native/guest_*.cc: pure code that runs on any host); only their ioctls need a kernel. With
// no container fd (-1) the addon records them, and they are replayed here on the fake kernel,
// so the rules tested on the host are the ones that run on POWER.
import { nativeBinding, type NativeBinding, type NativeGuestTable } from '../../lib/binding';

type GuestCalls = Pick<
  NativeBinding,
  | 'guestMemoryCreate'
  | 'guestMemoryAddSlot'
  | 'guestMemoryRemoveSlot'
  | 'guestMemorySlotUsers'
  | 'guestMemoryTranslate'
  | 'guestTableCreate'
  | 'guestTablePut'
  | 'guestTablePutList'
  | 'guestTablePutIndirect'
  | 'guestTableStuff'
  | 'guestTableGet'
  | 'guestTableTranslate'
  | 'guestTableLiveCount'
  | 'guestTableClear'
  | 'guestTableReinstall'
  | 'guestTableTakeOps'
>;

const MAP = 1n;

/** The guest calls over `kernel` (the fake's own map/unmap); `log` receives every replayed op. */
export function fakeGuestCalls(
  kernel: () => Pick<NativeBinding, 'mapDma' | 'unmapDma'>,
  log: BigUint64Array[],
): GuestCalls {
  const real = nativeBinding();
  const replay = (table: NativeGuestTable, fd: number) => {
    const ops = real.guestTableTakeOps(table);
    log.push(ops);
    for (let i = 0; i < ops.length; i += 5) {
      if (ops[i] === MAP)
        kernel().mapDma(fd, ops[i + 3], ops[i + 1], ops[i + 2], Number(ops[i + 4]));
      else kernel().unmapDma(fd, ops[i + 1], ops[i + 2]);
    }
  };
  const recorded = <A extends unknown[]>(
    call: (table: NativeGuestTable, fd: number, ...args: A) => void,
  ) => {
    return (table: NativeGuestTable, fd: number, ...args: A): void => {
      try {
        call(table, -1, ...args);
      } finally {
        replay(table, fd);
      }
    };
  };
  return {
    guestMemoryCreate: () => real.guestMemoryCreate(),
    guestMemoryAddSlot: (...a) => real.guestMemoryAddSlot(...a),
    guestMemoryRemoveSlot: (...a) => real.guestMemoryRemoveSlot(...a),
    guestMemorySlotUsers: (...a) => real.guestMemorySlotUsers(...a),
    guestMemoryTranslate: (...a) => real.guestMemoryTranslate(...a),
    guestTableCreate: (...a) => real.guestTableCreate(...a),
    guestTablePut: recorded((t, fd, ioba: bigint, tce: bigint) =>
      real.guestTablePut(t, fd, ioba, tce),
    ),
    guestTablePutList: recorded((t, fd, ioba: bigint, tces: BigUint64Array, count: number) =>
      real.guestTablePutList(t, fd, ioba, tces, count),
    ),
    guestTablePutIndirect: recorded((t, fd, ioba: bigint, list: bigint, count: number) =>
      real.guestTablePutIndirect(t, fd, ioba, list, count),
    ),
    guestTableStuff: recorded((t, fd, ioba: bigint, value: bigint, count: number) =>
      real.guestTableStuff(t, fd, ioba, value, count),
    ),
    guestTableGet: (...a) => real.guestTableGet(...a),
    guestTableTranslate: (...a) => real.guestTableTranslate(...a),
    guestTableLiveCount: (...a) => real.guestTableLiveCount(...a),
    guestTableClear: recorded((t, fd) => real.guestTableClear(t, fd)),
    guestTableReinstall: recorded((t, fd) => real.guestTableReinstall(t, fd)),
    guestTableTakeOps: (...a) => real.guestTableTakeOps(...a),
  };
}
