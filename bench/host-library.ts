// The host half of the bench's library rows: what the library itself costs per operation,
// over a binding whose VFIO calls return at once (bench/noop-binding.ts), as root and with the
// memlock check on the path. Under emulation the guest ratios mix this cost with the
// emulator's slowdown of JavaScript; on the host it is the library's own.
//
//   node dist/bench/host-library.js   prints progress, then `VFIO_HOST_LIBRARY_RESULT {json}`
import { Container, DmaBuffer, type Mapping, type Region } from '../lib';
import type { NativeBinding } from '../lib/binding';
import { noopBinding } from './noop-binding';

const MARKER = 'VFIO_HOST_LIBRARY_RESULT';
const MiB = 1 << 20;
/** Each measurement runs about this long; the median of REPEATS is kept. */
const TARGET_NS = 50_000_000;
const REPEATS = 7;

export interface HostCase {
  id: string;
  label: string;
  /** Library nanoseconds per operation (median of the repeats), as root and memlock-checked. */
  rootNsPerOp: number;
  memlockNsPerOp: number;
}

/**
 * A case: set up on a container over `binding`; `run(n)` does n iterations of `unit`
 * operations each (a batch of pages is one iteration), `done` tears down.
 */
type Setup = (binding: NativeBinding) => { run(n: number): void; unit?: number; done(): void };

function v2(binding: NativeBinding): Container {
  const c = Container.open({ binding });
  c.addGroup(0);
  c.setIommu('v2');
  return c;
}

function mapCase(size: number): Setup {
  return (binding) => {
    const c = v2(binding);
    const buffer = DmaBuffer.allocate(size, { binding });
    const region = c.register(buffer);
    const bigSize = BigInt(size);
    return {
      run: (n) => {
        for (let i = 0; i < n; i += 1) c.map(region, 0n, { size: bigSize }).unmap();
      },
      done: () => {
        c.close();
        buffer.free();
      },
    };
  };
}

function registerCase(size: number): Setup {
  return (binding) => {
    const c = v2(binding);
    const buffer = DmaBuffer.allocate(size, { binding });
    return {
      run: (n) => {
        for (let i = 0; i < n; i += 1) c.register(buffer).unregister();
      },
      done: () => {
        c.close();
        buffer.free();
      },
    };
  };
}

function batchCase(pages: number, batch: boolean): Setup {
  return (binding) => {
    const c = v2(binding);
    const buffer = DmaBuffer.allocate(pages * 4096, { binding });
    const region: Region = c.register(buffer);
    const entries = Array.from({ length: pages }, (_, i) => ({
      source: region,
      iova: BigInt(i * 4096),
      offset: i * 4096,
      size: 4096,
    }));
    return {
      // One operation: one page mapped and unmapped, one by one or within one mapMany.
      unit: pages,
      run: (n) => {
        for (let i = 0; i < n; i += 1) {
          let mappings: Mapping[];
          if (batch) mappings = c.mapMany(entries);
          else mappings = entries.map((e) => c.map(region, e.iova, e));
          for (const m of mappings) m.unmap();
        }
      },
      done: () => {
        c.close();
        buffer.free();
      },
    };
  };
}

const CASES: [string, string, Setup][] = [
  [
    'napi',
    'one N-API call of the real addon (pageSize)',
    (binding) => ({
      run: (n) => {
        for (let i = 0; i < n; i += 1) binding.pageSize();
      },
      done: () => undefined,
    }),
  ],
  ['map-4k', 'map+unmap 4 KiB', mapCase(4096)],
  ['map-64k', 'map+unmap 64 KiB', mapCase(64 * 1024)],
  ['map-1m', 'map+unmap 1 MiB', mapCase(MiB)],
  ['map-16m', 'map+unmap 16 MiB', mapCase(16 * MiB)],
  ['reg-1m', 'register+unregister 1 MiB', registerCase(MiB)],
  ['reg-64m', 'register+unregister 64 MiB', registerCase(64 * MiB)],
  ['reg-512m', 'register+unregister 512 MiB', registerCase(512 * MiB)],
  [
    'window',
    'create+remove window (64K pages, 4 GiB)',
    (binding) => {
      const c = v2(binding);
      return {
        run: (n) => {
          for (let i = 0; i < n; i += 1) {
            c.removeWindow(c.createWindow({ pageSize: 65536, size: 2 ** 32, levels: 1 }));
          }
        },
        done: () => c.close(),
      };
    },
  ],
  ['mapn', 'map+unmap 4 KiB, 512 one by one (per page)', batchCase(512, false)],
  ['mapn-batch', 'map+unmap 4 KiB, 512 in one mapMany (per page)', batchCase(512, true)],
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Iterations of `run` that take about `ns`, found by doubling (which also warms the JIT). */
function calibrate(run: (n: number) => void, ns: number): number {
  for (let n = 1; ; n *= 2) {
    const start = process.hrtime.bigint();
    run(n);
    if (Number(process.hrtime.bigint() - start) >= ns || n >= 1 << 24) return n;
  }
}

/**
 * Nanoseconds per operation as root and with the memlock check: both set up, warmed and
 * calibrated, then measured in alternation (REPEATS each), medians.
 */
function measure(setup: Setup): [number, number] {
  const sides = [setup(noopBinding(false)), setup(noopBinding(true))];
  try {
    const n = sides.map((side) => calibrate((k) => side.run(k), TARGET_NS));
    const perOp: number[][] = [[], []];
    for (let r = 0; r < REPEATS; r += 1) {
      for (const i of [0, 1]) {
        const start = process.hrtime.bigint();
        sides[i].run(n[i]);
        const ops = n[i] * (sides[i].unit ?? 1);
        perOp[i].push(Number(process.hrtime.bigint() - start) / ops);
      }
    }
    return [median(perOp[0]), median(perOp[1])];
  } finally {
    for (const side of sides) side.done();
  }
}

function main(): void {
  const cases: HostCase[] = [];
  for (const [id, label, setup] of CASES) {
    const [rootNsPerOp, memlockNsPerOp] = measure(setup);
    cases.push({ id, label, rootNsPerOp, memlockNsPerOp });
    console.log(
      `host library: ${label}: ${rootNsPerOp.toFixed(0)} ns as root, ` +
        `${memlockNsPerOp.toFixed(0)} ns with the memlock check`,
    );
  }
  console.log(`${MARKER} ${JSON.stringify({ node: process.version, cases })}`);
}

main();
