// Fuzz on the host: the public API over the fake kernel (books checked against the fake's
// state at every quiescent point, forked phases through the fake's pid), the raw addon of
// this host with hostile arguments (every VFIO call fails cleanly here), and the public API
// over the real addon. Seeded: the seed is printed, VFIO_FUZZ_SEED=<seed> replays a run, and
// VFIO_FUZZ_SCALE multiplies the call counts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeBinding } from '../../lib/binding';
import { FakeKernel } from '../support/fake-binding';
import { ApiFuzzer } from '../fuzz/api-fuzzer';
import { fakeEnv } from '../fuzz/fake-env';
import { Random, fuzzCalls, fuzzSeed } from '../fuzz/random';
import { fuzzRawBinding } from '../fuzz/raw-fuzzer';

const SEED = fuzzSeed();

/** A sysfs-shaped tree with one edu device on vfio-pci and an nvme driver to give it to. */
function fakeSysfs(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-fuzz-sysfs-'));
  const dev = path.join(root, 'bus/pci/devices/0000:01:00.0');
  fs.mkdirSync(dev, { recursive: true });
  for (const driver of ['vfio-pci', 'nvme']) {
    fs.mkdirSync(path.join(root, 'bus/pci/drivers', driver), { recursive: true });
  }
  fs.mkdirSync(path.join(root, 'kernel/iommu_groups/0/devices'), { recursive: true });
  for (const [file, text] of [
    ['vendor', '0x1234'],
    ['device', '0x11e8'],
    ['class', '0x00ff00'],
    ['driver_override', '(null)'],
  ]) {
    fs.writeFileSync(path.join(dev, file), `${text}\n`);
  }
  fs.symlinkSync(path.join(root, 'kernel/iommu_groups/0'), path.join(dev, 'iommu_group'));
  fs.symlinkSync(path.join(root, 'bus/pci/drivers/vfio-pci'), path.join(dev, 'driver'));
  return root;
}

/** Every regular file under root, relative. */
function filesUnder(root: string, dir = ''): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(root, rel);
    return entry.isFile() ? [rel] : [];
  });
}

/** The files sysfs writes may create in the fake tree (real sysfs has them all). */
const SYSFS_WRITABLE = /^bus\/pci\/(drivers_probe|drivers\/(vfio-pci|nvme)\/(bind|unbind))$/;

describe(`fuzz (seed ${SEED}; VFIO_FUZZ_SEED=${SEED} replays)`, function () {
  this.timeout(120000);

  for (const pageSize of [65536, 4096]) {
    const calls = fuzzCalls(pageSize === 65536 ? 60000 : 40000);
    it(`the public API over the fake ${pageSize / 1024}K-page kernel: ${calls} calls, typed errors only, books equal to the kernel's`, async function () {
      const kernel = new FakeKernel({ pageSize });
      const sysfs = fakeSysfs();
      const before = new Set(filesUnder(sysfs));
      try {
        const fuzzer = new ApiFuzzer(
          new Random(SEED ^ pageSize),
          fakeEnv(kernel, sysfs),
          SEED,
          `public API, fake ${pageSize / 1024}K kernel`,
        );
        const started = Date.now();
        const tally = await fuzzer.run(calls);
        console.log(`      ${tally.summary()} in ${Date.now() - started} ms`);
        assert.equal(tally.failed, 0, tally.report());
        assert.ok(tally.succeeded > calls / 10, `only ${tally.succeeded} calls succeeded`);
        assert.deepEqual(kernel.containerFds(), [], 'every container closed');
        assert.equal(kernel.locked, 0n, 'locked memory back to zero');
        const written = filesUnder(sysfs).filter((f) => !before.has(f) && !SYSFS_WRITABLE.test(f));
        assert.deepEqual(written, [], 'sysfs writes outside the device and its drivers');
      } finally {
        fs.rmSync(sysfs, { recursive: true, force: true });
      }
    });
  }

  it('the raw addon of this host: 100,000 hostile calls, each a success or a typed error, no fd leaked', async function () {
    const calls = fuzzCalls(100000);
    const started = Date.now();
    const result = await fuzzRawBinding(nativeBinding(), new Random(SEED ^ 0x5a5a5a5a), calls, {
      seed: SEED,
    });
    console.log(`      ${result.tally.summary()} in ${Date.now() - started} ms`);
    if (result.unknown.length)
      console.log(`      fuzzed generically: ${result.unknown.join(', ')}`);
    assert.equal(result.tally.failed, 0, result.tally.report());
    assert.ok(result.tally.calls >= calls, `${result.tally.calls} calls`);
    assert.deepEqual(result.leakedFds, [], 'fds the fuzz left open');
  });

  it('the public API over the real addon of this host: typed errors only', async function () {
    const calls = fuzzCalls(20000);
    const fuzzer = new ApiFuzzer(
      new Random(SEED ^ 0x0a0a0a0a),
      { binding: nativeBinding(), groups: [{ number: 0, devices: ['0000:01:00.0'] }], fake: false },
      SEED,
      'public API, real addon',
    );
    const started = Date.now();
    const tally = await fuzzer.run(calls);
    console.log(`      ${tally.summary()} in ${Date.now() - started} ms`);
    assert.equal(tally.failed, 0, tally.report());
  });
});
