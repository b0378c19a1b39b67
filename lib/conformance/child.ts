// The child process of `vfio-spapr conformance`: runs the rows whose kernel effects last until
// the process exits (so they end with this process), or checks that a container fd inherited
// as fd 3 refuses this process. Prints one JSON document on stdout.
//   node child.js --groups 0,1 --rows ID,ID
//   node child.js --register-on-fd3
import { nativeBinding } from '../binding';
import { outcome } from './probe';
import { runConformance } from './run';

async function main(argv: string[]): Promise<void> {
  const b = nativeBinding();
  if (argv[0] === '--register-on-fd3') {
    const page = BigInt(b.pageSize());
    const { buffer, address } = b.allocBuffer(Number(page), 'anonymous');
    new Uint8Array(buffer).fill(1);
    process.stdout.write(`${outcome(() => b.registerMemory(3, address, page))}\n`);
    return;
  }
  const value = (name: string) => argv[argv.indexOf(name) + 1] ?? '';
  const groups = value('--groups').split(',').map(Number);
  const only = value('--rows').split(',').filter(Boolean);
  const report = await runConformance({ binding: b, groups, only, isolation: 'here' });
  process.stdout.write(
    `${JSON.stringify(report, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`);
  process.exitCode = 1;
});
