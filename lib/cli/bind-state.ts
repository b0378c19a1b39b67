// What `bind` remembers for `unbind`: each device's driver before vfio-pci, one small JSON
// file per device in the state directory (/run/vfio-spapr by default: a tmpfs, so the
// records go with the bindings at reboot). The kernel itself keeps no such record.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverBindError, parseBdf } from '../index';

export interface BindRecord {
  bdf: string;
  /** The driver the device had before `bind`, or null when it had none. */
  previousDriver: string | null;
  /** ISO time of the bind. */
  boundAt: string;
}

export class BindState {
  constructor(readonly dir: string) {}

  fileOf(bdf: string): string {
    return path.join(this.dir, `${parseBdf(bdf)}.json`);
  }

  record(bdf: string, previousDriver: string | null): BindRecord {
    const record = { bdf: parseBdf(bdf), previousDriver, boundAt: new Date().toISOString() };
    const file = this.fileOf(bdf);
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
      fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(record)}\n`);
      fs.renameSync(`${file}.tmp`, file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new DriverBindError({
        device: parseBdf(bdf),
        problem:
          `cannot record the previous driver of ${record.bdf} in ${file}: ${code} ` +
          '(run as root, or set VFIO_SPAPR_STATE_DIR to a writable directory)',
      });
    }
    return record;
  }

  /** The record of the last bind, or null when this tool did not bind the device. */
  read(bdf: string): BindRecord | null {
    const file = this.fileOf(bdf);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    let record: Partial<BindRecord>;
    try {
      record = JSON.parse(text) as Partial<BindRecord>;
    } catch {
      record = {};
    }
    const previous = record.previousDriver;
    if (record.bdf !== parseBdf(bdf) || !(previous === null || typeof previous === 'string')) {
      throw new DriverBindError({
        device: parseBdf(bdf),
        problem: `${file} is not a bind record: remove it and unbind again`,
      });
    }
    return { bdf: record.bdf, previousDriver: previous, boundAt: String(record.boundAt) };
  }

  forget(bdf: string): void {
    fs.rmSync(this.fileOf(bdf), { force: true });
  }
}
