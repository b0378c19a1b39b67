// QEMU's edu device driven through the library: ID and liveness registers, and its DMA
// engine (RAM <-> its 4 KiB buffer at 0x40000). Registers are big-endian on this target.
// The test device of the rig, of `vfio-spapr selftest` and of the examples.
import type { Device } from '../device';
import type { MmioRegion } from '../mmio';

/** PCI vendor and device ID of QEMU's edu device, as sysfs spells them. */
export const EDU_VENDOR = '1234';
export const EDU_DEVICE = '11e8';

const REG_ID = 0x00;
const REG_LIVENESS = 0x04;
const REG_DMA_SRC = 0x80;
const REG_DMA_DST = 0x88;
const REG_DMA_COUNT = 0x90;
const REG_DMA_CMD = 0x98;
const CMD_START = 0x1n;
const CMD_TO_RAM = 0x2n;
/** The device's own DMA buffer, in its address space. */
export const EDU_BUFFER = 0x40000n;
/** QEMU 7.2 aborts on a transfer ending exactly at the buffer end: stay below 4096. */
export const EDU_MAX_TRANSFER = 4095;

export class Edu {
  readonly bar: MmioRegion;

  constructor(readonly device: Device) {
    this.bar = device.mapRegion(0, { endianness: 'big' });
  }

  id(): number {
    return this.bar.read32(REG_ID);
  }

  /** Writes a value to the liveness register; the device answers with its bitwise NOT. */
  liveness(value: number): number {
    this.bar.write32(REG_LIVENESS, value);
    return this.bar.read32(REG_LIVENESS);
  }

  /** RAM (at a bus address) -> the device buffer. */
  async toDevice(iova: bigint, count: number, deviceOffset = 0n): Promise<void> {
    await this.transfer(iova, EDU_BUFFER + deviceOffset, count, CMD_START);
  }

  /** The device buffer -> RAM (at a bus address). */
  async toRam(iova: bigint, count: number, deviceOffset = 0n): Promise<void> {
    await this.transfer(EDU_BUFFER + deviceOffset, iova, count, CMD_START | CMD_TO_RAM);
  }

  close(): void {
    this.bar.unmap();
  }

  private async transfer(src: bigint, dst: bigint, count: number, cmd: bigint): Promise<void> {
    if (count <= 0 || count > EDU_MAX_TRANSFER)
      throw new RangeError(`edu transfer of ${count} bytes`);
    this.bar.write64(REG_DMA_SRC, src);
    this.bar.write64(REG_DMA_DST, dst);
    this.bar.write64(REG_DMA_COUNT, BigInt(count));
    this.bar.write64(REG_DMA_CMD, cmd);
    // The transfer completes on a virtual-time timer: sleep between polls, do not spin.
    for (let polls = 0; polls < 2000; polls += 1) {
      if ((this.bar.read64(REG_DMA_CMD) & CMD_START) === 0n) return;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    throw new Error('edu DMA did not complete within 2000 polls');
  }
}
