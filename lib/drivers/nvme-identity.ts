// The Identify data structures an NVMe controller returns (NVMe 1.4, figures 247 and 249),
// decoded from the 4 KiB page it wrote by DMA. All fields are little-endian.

export interface NvmeControllerIdentity {
  /** PCI vendor ID (VID) and subsystem vendor ID (SSVID). */
  vendorId: number;
  subsystemVendorId: number;
  /** SN, MN, FR: ASCII, space padded (trimmed here). */
  serial: string;
  model: string;
  firmware: string;
  /** MDTS: largest transfer is 2^mdts minimum pages; 0 means no limit. */
  mdts: number;
  controllerId: number;
  /** VER: 0x00010400 for NVMe 1.4 (0 for controllers older than 1.2). */
  version: number;
  /** NN: the highest namespace ID the controller supports (not how many are active). */
  maxNamespaceId: number;
  /** The whole 4 KiB answer. */
  raw: Uint8Array;
}

export interface NvmeNamespaceIdentity {
  nsid: number;
  /** NSZE, NCAP, NUSE: in logical blocks. */
  blocks: bigint;
  capacity: bigint;
  utilization: bigint;
  /** The formatted LBA format's data size in bytes (2^LBADS) and metadata bytes per block. */
  blockSize: number;
  metadataSize: number;
  raw: Uint8Array;
}

function ascii(data: Uint8Array, from: number, to: number): string {
  return Buffer.from(data.subarray(from, to)).toString('latin1').trim();
}

export function parseControllerIdentity(data: Uint8Array): NvmeControllerIdentity {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    vendorId: view.getUint16(0, true),
    subsystemVendorId: view.getUint16(2, true),
    serial: ascii(data, 4, 24),
    model: ascii(data, 24, 64),
    firmware: ascii(data, 64, 72),
    mdts: data[77],
    controllerId: view.getUint16(78, true),
    version: view.getUint32(80, true),
    maxNamespaceId: view.getUint32(516, true),
    raw: Uint8Array.from(data),
  };
}

export function parseNamespaceIdentity(nsid: number, data: Uint8Array): NvmeNamespaceIdentity {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const format = data[26] & 0xf; // FLBAS: the LBA format in use
  const lbaFormat = view.getUint32(128 + 4 * format, true);
  return {
    nsid,
    blocks: view.getBigUint64(0, true),
    capacity: view.getBigUint64(8, true),
    utilization: view.getBigUint64(16, true),
    blockSize: 2 ** ((lbaFormat >>> 16) & 0xff),
    metadataSize: lbaFormat & 0xffff,
    raw: Uint8Array.from(data),
  };
}
