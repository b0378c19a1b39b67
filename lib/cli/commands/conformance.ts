// `vfio-spapr conformance GROUP [GROUP]`: measures, on the host it runs on, every row of the
// library's kernel table (docs/kernel.md) that needs no device doing DMA, and says for each
// whether the kernel does what the table says. Exit status 1 when a row the library relies
// on differs, or when locked memory did not come back to where it started.
import { nativeBinding } from '../../binding';
import { runConformance, type RowResult } from '../../conformance/run';
import { CONFORMANCE_ROWS } from '../../conformance/rows';
import { libraryText } from '../../conformance/row';
import { Sysfs } from '../../sysfs';
import type { Command } from '../command';
import type { CliContext } from '../context';
import { formatBytes } from '../sizes';
import { UsageError } from '../usage-error';
import { parseGroup } from './info';

const ISOLATED = CONFORMANCE_ROWS.filter((r) => r.needs?.isolated).length;

/** What a run opens, changes and spawns: said before it starts. */
function touches(ctx: CliContext, groups: number[]): string[] {
  const byGroup = new Map(
    new Sysfs({ root: ctx.sysfsRoot }).listIommuGroups().map((g) => [g.group, g.devices]),
  );
  const named = groups.length
    ? groups
        .map((g) => {
          const devices = (byGroup.get(g) ?? []).map((d) => d.bdf);
          return `${g}${devices.length ? ` (${devices.join(', ')})` : ''}`;
        })
        .join(', ')
    : 'GROUP';
  return [
    `/dev/vfio/vfio and IOMMU group(s) ${named}, attached to containers of its own one row at ` +
      'a time; no device is opened: no MMIO, no config space, no DMA',
    'a few MiB of its own anonymous memory, registered, mapped and unregistered; DMA windows ' +
      'created and removed',
    'its own RLIMIT_MEMLOCK soft limit, lowered for a moment in the memlock rows and restored',
    `child processes for the ${ISOLATED} rows whose kernel effects last until the process exits ` +
      '(a pin, a locked-memory charge), and for the row about another process',
    "every row's containers are closed when it ends (the kernel then unmaps, unregisters and " +
      'frees its windows); locked memory is compared with its start after each row and at the end',
  ];
}

function label(r: RowResult): string {
  if (r.outcome === 'pass') return 'pass';
  if (r.outcome === 'skipped') return 'skip';
  return r.relies ? 'DIFFERS' : 'differs';
}

function rowLine(r: RowResult): string {
  const head = `${label(r).padEnd(7)} ${r.id.padEnd(35)} ${r.title}`;
  if (r.outcome === 'pass') return `${head}: ${r.seen}`;
  if (r.outcome === 'skipped') return `${head}: skipped: ${r.reason}`;
  const why = r.relies
    ? 'the library relies on this'
    : `the library refuses this itself (${r.library.replace(/^protects: /, '')})`;
  return `${head}: expected "${r.expected}", saw "${r.seen}" (${why})`;
}

export const conformance: Command = {
  name: 'conformance',
  synopsis: 'GROUP [GROUP]',
  summary:
    "checks this host's kernel against the library's kernel table (exit 1 if a row it relies on differs)",
  details: [
    'GROUP is an IOMMU group number (N of /dev/vfio/N) whose devices are all bound to vfio-pci ' +
      'and that no process holds open. With two groups (ideally on two PHBs) the rows about ' +
      'several groups and several containers run too.',
    'Each row of docs/kernel.md that can be measured without a device doing DMA is measured ' +
      'through the raw ioctls and reported as pass, differs (with what was expected and what ' +
      'was seen) or skipped (with the reason: rows about RLIMIT_MEMLOCK need a user without ' +
      'CAP_IPC_LOCK, others need root, or two groups, or dynamic windows). Run it as root and ' +
      'again as an ordinary user to cover every row.',
    'Everything a row makes is undone when the row ends; locked memory is checked after each ' +
      'row and at the end. --dry-run lists the rows and what a run touches, and touches nothing.',
    'Exit status 1 when a row the library relies on differs, or locked memory did not come ' +
      'back; a row the library protects against that differs is reported and does not fail.',
  ],
  options: {
    'dry-run': {
      type: 'boolean',
      description: 'list the rows and what a run touches; touch nothing',
    },
  },
  positionals: { min: 0, max: 2 },
  async run(ctx, args) {
    const groups = args.positionals.map(parseGroup);
    if (new Set(groups).size !== groups.length) {
      throw new UsageError('name two different groups');
    }
    const touched = touches(ctx, groups);
    if (args.options['dry-run'] === true) {
      const rows = CONFORMANCE_ROWS.map((r) => ({
        id: r.id,
        section: r.section,
        title: r.title,
        expected: r.expected,
        library: libraryText(r),
        needs: r.needs ?? {},
      }));
      const text = [
        'vfio-spapr conformance would touch:',
        ...touched.map((t) => `- ${t}`),
        `and measure ${rows.length} rows:`,
        ...rows.map((r) => `  ${r.id.padEnd(36)}${r.title}: ${r.expected}`),
      ].join('\n');
      return { json: { dryRun: true, touches: touched, rows }, text };
    }
    if (groups.length === 0) throw new UsageError('missing GROUP');
    const binding = ctx.binding ?? nativeBinding();
    if (!args.json) {
      ctx.out(['vfio-spapr conformance touches:', ...touched.map((t) => `- ${t}`)].join('\n'));
    }
    const report = await runConformance({
      binding,
      groups,
      procRoot: ctx.procRoot,
      // A fake binding (the host tests) has no processes to run rows in.
      isolation: ctx.binding === undefined ? 'child' : 'none',
      onRow: (r) => {
        if (!args.json) ctx.out(rowLine(r));
      },
    });
    const count = (o: string) => report.rows.filter((r) => r.outcome === o).length;
    const reliedDiffer = report.rows.filter((r) => r.outcome === 'differs' && r.relies);
    const lockedBack =
      report.lockedAtEnd === report.lockedAtStart &&
      report.rows.every((r) => r.lockedBack !== false);
    const ok = reliedDiffer.length === 0 && lockedBack;
    const summary = {
      rows: report.rows.length,
      pass: count('pass'),
      differs: count('differs'),
      skipped: count('skipped'),
      reliedOnDiffer: reliedDiffer.map((r) => r.id),
      lockedBack,
    };
    const { host } = report;
    const text = [
      `host: kernel ${host.kernel}, ${formatBytes(host.pageSize)} pages, ` +
        `${host.power ? `POWER${host.power}` : 'not a POWER8/9'}, uid ${host.uid ?? '?'}, ` +
        `CAP_IPC_LOCK ${host.capIpcLock ? 'yes' : 'no'}, dynamic windows ${host.ddw ? 'yes' : 'no'}`,
      `conformance: ${summary.rows} rows: ${summary.pass} pass, ${summary.differs} differ, ${summary.skipped} skipped`,
      `locked memory: ${formatBytes(report.lockedAtStart)} at start, ${formatBytes(report.lockedAtEnd)} at end` +
        (lockedBack ? ' (back where it started)' : ' (NOT back where it started: report this)'),
      reliedDiffer.length === 0
        ? 'the kernel does what the library relies on'
        : `${reliedDiffer.length} row(s) the library relies on differ (${summary.reliedOnDiffer.join(', ')}): ` +
          'do not trust the library on this kernel; report the output (see docs/hardware.md)',
    ].join('\n');
    return {
      json: { ...report, touches: touched, summary },
      text,
      exitCode: ok ? 0 : 1,
    };
  },
};
