// `vfio-spapr memlock [--register SIZE]... [--window SIZE:PAGESIZE[:LEVELS]]...`: the
// locked-memory limit, what the process has locked, and what a plan of registrations and
// DMA windows would cost, with the `ulimit -l` that fits. Nothing is locked to find out.
import {
  memlockReport,
  readMemlockStatus,
  registrationBytes,
  tceTableBytes,
  type PlannedCost,
} from '../../index';
import { nativeBinding } from '../../binding';
import { defaultWindowTableBytes } from '../../memlock';
import { stringList } from '../args';
import type { Command } from '../command';
import { table } from '../format';
import { formatBytes, parseSize } from '../sizes';
import { UsageError } from '../usage-error';

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

function parseWindow(spec: string, systemPageSize: bigint): PlannedCost {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) {
    throw new UsageError(`--window: ${JSON.stringify(spec)} is not SIZE:PAGESIZE[:LEVELS]`);
  }
  const size = parseSize(parts[0], '--window SIZE');
  const pageSize = parseSize(parts[1], '--window PAGESIZE');
  const levels = parts[2] === undefined ? 1 : Number(parts[2]);
  if (!isPowerOfTwo(pageSize) || pageSize < 4096n) {
    throw new UsageError(`--window: the IOMMU page size must be a power of two of 4K or more`);
  }
  if (!isPowerOfTwo(size) || size < pageSize) {
    throw new UsageError(`--window: the window size must be a power of two, at least one page`);
  }
  if (!Number.isInteger(levels) || levels < 1 || levels > 5) {
    throw new UsageError(`--window: LEVELS must be 1 to 5, got ${JSON.stringify(parts[2])}`);
  }
  const pageShift = pageSize.toString(2).length - 1;
  return {
    what: `window of ${formatBytes(size)}, ${formatBytes(pageSize)} pages, ${levels} level${levels > 1 ? 's' : ''}`,
    bytes: tceTableBytes(pageShift, size, levels, systemPageSize),
  };
}

export const memlock: Command = {
  name: 'memlock',
  synopsis: '',
  summary: 'the locked-memory limit, what is locked, and what a plan needs (ulimit -l)',
  details: [
    'Sizes take K, M, G, T (binary: 64M is 64 MiB). --register and --window repeat.',
    '--register SIZE: pinning SIZE bytes of memory (charged whole, in system pages).',
    '--window SIZE:PAGESIZE[:LEVELS]: a dynamic DMA window: its TCE table and the kernel view ' +
      'of it (e.g. 64G:64K, 1T:16M:2).',
    "--default-window: the default 2 GiB window's table, created at a v2 container's first map.",
    'Exit status 1 when a plan is given and does not fit under RLIMIT_MEMLOCK.',
  ],
  options: {
    register: { type: 'string', multiple: true, value: 'SIZE', description: 'plan a registration' },
    window: {
      type: 'string',
      multiple: true,
      value: 'SIZE:PAGESIZE[:LEVELS]',
      description: 'plan a dynamic window',
    },
    'default-window': { type: 'boolean', description: "plan the default window's table" },
  },
  positionals: { min: 0, max: 0 },
  run(ctx, args) {
    const binding = ctx.binding ?? nativeBinding();
    const systemPageSize = BigInt(binding.pageSize());
    const plan: PlannedCost[] = [
      ...stringList(args.options.register).map((text) => {
        const size = parseSize(text, '--register');
        if (size === 0n) throw new UsageError('--register: the size must be more than 0');
        return {
          what: `register ${formatBytes(size)}`,
          bytes: registrationBytes(size, systemPageSize),
        };
      }),
      ...stringList(args.options.window).map((spec) => parseWindow(spec, systemPageSize)),
    ];
    if (args.options['default-window'] === true) {
      plan.push({
        what: 'default window (2 GiB, 4 KiB pages)',
        bytes: defaultWindowTableBytes(systemPageSize),
      });
    }
    const report = memlockReport(readMemlockStatus(binding), plan);
    const limit = (value: bigint | null) => (value === null ? 'unlimited' : formatBytes(value));
    const lines = [
      `RLIMIT_MEMLOCK: ${limit(report.limit)} (hard ${limit(report.hardLimit)})`,
      `locked now (VmLck): ${formatBytes(report.locked)}`,
      `CAP_IPC_LOCK: ${report.capIpcLock ? 'yes (the limit does not apply)' : 'no (the limit applies)'}`,
      `system page size: ${formatBytes(systemPageSize)}`,
    ];
    if (plan.length > 0) {
      lines.push(
        'plan:',
        table(
          ['  WHAT', 'LOCKS'],
          [
            ...plan.map((p) => [`  ${p.what}`, formatBytes(p.bytes)]),
            ['  total', formatBytes(report.needed)],
          ],
        ),
        report.capIpcLock
          ? 'fits: CAP_IPC_LOCK lifts the limit'
          : report.fits
            ? `fits: locked memory would be ${formatBytes(report.locked + report.needed)} of ${limit(report.limit)}`
            : `does not fit: needs ${formatBytes(report.locked + report.needed)} locked, the limit is ` +
              `${limit(report.limit)}; run \`ulimit -l ${report.ulimitKiB}\` (KiB) or grant CAP_IPC_LOCK`,
      );
    }
    const json = { systemPageSize, ...report };
    return { json, text: lines.join('\n'), exitCode: plan.length > 0 && !report.fits ? 1 : 0 };
  },
};
