// Child process: the fuzzers against the real kernel, isolated from the suite (a raw call may
// leak a pin into the mm until exit). Prints one JSON line: each fuzzer's tally and VmLck.
// RAW_CALLS 0 runs the public API only (as uid 65534, where the raw part has no use).
//   node fuzz.js SEED API_CALLS RAW_CALLS GROUP,BDF...
import { nativeBinding } from '../../../lib/binding';
import { ApiFuzzer } from '../../fuzz/api-fuzzer';
import { kernelEnv } from '../../fuzz/kernel-env';
import { Random } from '../../fuzz/random';
import { fuzzRawBinding } from '../../fuzz/raw-fuzzer';

async function main(): Promise<void> {
  const [seedText, apiText, rawText, ...groupArgs] = process.argv.slice(2);
  const seed = Number(seedText);
  const groups = groupArgs.map((g) => {
    const [number, ...devices] = g.split(',');
    return { number: Number(number), devices };
  });
  const b = nativeBinding();
  const lockedAtStart = b.vmLockedBytes();
  let started = Date.now();
  const apiFuzzer = new ApiFuzzer(
    new Random(seed),
    kernelEnv(groups),
    seed,
    `public API, real kernel, uid ${process.getuid?.()}`,
  );
  const apiTally = await apiFuzzer.run(Number(apiText));
  const apiMs = Date.now() - started;
  const lockedAfterApi = b.vmLockedBytes();
  const api = {
    summary: apiTally.summary(),
    failed: apiTally.failed,
    report: apiTally.report(),
    calls: apiTally.calls,
    ms: apiMs,
    codes: Object.fromEntries(apiTally.codes),
  };
  const locked = {
    uid: process.getuid?.(),
    lockedAtStart: lockedAtStart.toString(),
    lockedAfterApi: lockedAfterApi.toString(),
    strandedBytes: apiFuzzer.strandedBytes.toString(),
  };
  if (Number(rawText) === 0) {
    console.log(`FUZZ_RESULT ${JSON.stringify({ api, ...locked })}`);
    return;
  }

  // The raw binding, with the real group among the fds it may use but not the real container:
  // a raw MAP_DMA running past the window end makes the kernel write TCEs past its table, which
  // corrupted the guest kernel (a later "corrupted stack end" panic); the container is fuzzed
  // through the public API above, whose ledger refuses such ranges.
  const container = b.openContainer();
  const group = b.openGroup(groups[0].number);
  b.groupSetContainer(group, container);
  b.setIommu(container, b.constants.VFIO_SPAPR_TCE_v2_IOMMU);
  started = Date.now();
  const raw = await fuzzRawBinding(b, new Random(seed ^ 0x5a5a5a5a), Number(rawText), {
    seed,
    extraFds: [group],
    // Nor a container of its own, which could get a real group the same way.
    forbid: ['openContainer'],
    // A hugetlb registration on the 4K-page kernel never returns (kernel-facts.md).
    backings: b.pageSize() < 65536 ? ['anonymous', 'shared', 'memfd'] : undefined,
  });
  const out = {
    api,
    raw: {
      summary: raw.tally.summary(),
      failed: raw.tally.failed,
      report: raw.tally.report(),
      calls: raw.tally.calls,
      ms: Date.now() - started,
      fdsBefore: raw.fdsBefore,
      fdsAfter: raw.fdsAfter,
      leakedFds: raw.leakedFds,
    },
    ...locked,
  };
  console.log(`FUZZ_RESULT ${JSON.stringify(out)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
