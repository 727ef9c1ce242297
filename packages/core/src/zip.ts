import { inflateSync } from 'fflate';
import { DataFormatError } from './errors.js';

/** One archive entry; its bytes are read (and inflated, for deflate entries) only when asked for, and only once. */
export interface ZipEntry {
  size: number;
  read(): Uint8Array;
}

export interface ZipReadOptions {
  /**
   * The most bytes all deflated entries together may inflate to; an entry past it is a DataFormatError naming the
   * budget, raised before anything is inflated. Default `defaultInflateBudget(bytes.length)`.
   */
  inflateBudget?: number;
}

/** 64 MiB plus 4 × the archive's size: PyTorch stores tensors uncompressed, so real checkpoints stay far below it. */
export function defaultInflateBudget(archiveBytes: number): number {
  return 64 * 1024 * 1024 + 4 * archiveBytes;
}

/**
 * Bounds-checked little-endian reads over an archive: every read past the end, and every ZIP64 value larger than the
 * file, is a DataFormatError naming the file.
 */
export interface ZipBytes {
  bytes: Uint8Array;
  /** The archive's size in bytes. */
  n: number;
  u16(offset: number): number;
  u32(offset: number): number;
  /** A ZIP64 field, refused if it exceeds the file's size (so it is always a safe integer). */
  u64(offset: number): number;
  fail(message: string): never;
}

/** Wraps `bytes` (the archive named `name`) in bounds-checked readers. */
export function zipBytes(bytes: Uint8Array, name: string): ZipBytes {
  const fail = (message: string): never => {
    throw new DataFormatError({ file: name, message });
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  const u16 = (o: number) =>
    o + 2 <= n ? dv.getUint16(o, true) : fail(`zip structure runs past the end at byte ${o}`);
  const u32 = (o: number) =>
    o + 4 <= n ? dv.getUint32(o, true) : fail(`zip structure runs past the end at byte ${o}`);
  const u64 = (o: number) => {
    if (o + 8 > n) fail(`zip structure runs past the end at byte ${o}`);
    const v = dv.getBigUint64(o, true);
    return v > BigInt(n) ? fail(`zip64 field at byte ${o} holds ${v}, larger than the ${n}-byte file`) : Number(v);
  };
  return { bytes, n, u16, u32, u64, fail };
}

/** Where the central directory lies and how many entries it claims, checked against the file. */
export interface CentralDirectory {
  entries: number;
  offset: number;
  size: number;
}

/**
 * Finds the end-of-central-directory record (the last `PK\5\6` within the final 64 KiB + 22 bytes), follows the
 * ZIP64 locator when a field is saturated, and checks that the directory fits the file and can hold its entries.
 * Throws a DataFormatError when there is no such record (not a zip, or a legacy pre-1.6 pickle) or it is inconsistent.
 */
export function readCentralDirectory(z: ZipBytes): CentralDirectory {
  const { bytes, n, u16, u32, u64, fail } = z;
  let eocd = -1;
  for (let o = n - 22; o >= Math.max(0, n - 22 - 0xffff); o--)
    if (bytes[o] === 0x50 && bytes[o + 1] === 0x4b && bytes[o + 2] === 5 && bytes[o + 3] === 6) {
      eocd = o;
      break;
    }
  if (eocd < 0)
    fail(
      'not a zip archive (no end-of-central-directory record); legacy pre-1.6 pickled files are not supported, re-save with torch.save',
    );
  let entries = u16(eocd + 10);
  let size = u32(eocd + 12);
  let offset = u32(eocd + 16);
  if (entries === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== 0x07064b50) fail('ZIP64 end-of-central-directory locator missing');
    const z64 = u64(loc + 8);
    if (u32(z64) !== 0x06064b50) fail(`no ZIP64 end-of-central-directory record at byte ${z64}`);
    entries = u64(z64 + 32);
    size = u64(z64 + 40);
    offset = u64(z64 + 48);
  }
  if (offset + size > n) fail(`central directory (${size} bytes at ${offset}) runs past the end of the ${n}-byte file`);
  if (entries * 46 > size)
    fail(`the central directory says ${entries} entries but holds ${size} bytes (at least 46 per entry)`);
  return { entries, offset, size };
}

/** One central-directory record, with ZIP64 sizes and offsets resolved. */
export interface CentralEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  compSize: number;
  size: number;
  /** Byte offset of the entry's local header. */
  local: number;
  /** Byte offset of the next central-directory record. */
  next: number;
}

/**
 * Reads central-directory record `i` at byte `p` of the directory `cd`; throws a DataFormatError when its signature
 * is missing or it runs past the directory.
 */
export function readCentralEntry(z: ZipBytes, cd: CentralDirectory, p: number, i: number): CentralEntry {
  const { u16, u32, u64, fail } = z;
  if (u32(p) !== 0x02014b50) fail(`central directory entry ${i} at byte ${p} has no signature`);
  const method = u16(p + 10);
  let compSize = u32(p + 20);
  let size = u32(p + 24);
  const nameLen = u16(p + 28);
  const extraLen = u16(p + 30);
  const commentLen = u16(p + 32);
  let local = u32(p + 42);
  if (p + 46 + nameLen + extraLen + commentLen > cd.offset + cd.size)
    fail(`central directory entry ${i} runs past the directory`);
  const name = new TextDecoder().decode(z.bytes.subarray(p + 46, p + 46 + nameLen));
  // ZIP64 extended information (0x0001): the 64-bit values of the fields that hold 0xffffffff, in order
  for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
    const id = u16(e);
    const len = u16(e + 2);
    if (id === 1) {
      let q = e + 4;
      if (size === 0xffffffff) {
        size = u64(q);
        q += 8;
      }
      if (compSize === 0xffffffff) {
        compSize = u64(q);
        q += 8;
      }
      if (local === 0xffffffff) {
        local = u64(q);
        q += 8;
      }
    }
    e += 4 + len;
  }
  return { name, method, compSize, size, local, next: p + 46 + nameLen + extraLen + commentLen };
}

/** The archive-wide limit on inflated bytes, shared by all deflated entries. */
interface InflateBudget {
  limit: number;
  text: string;
  used: number;
}

/**
 * The entry `e` as a lazy {@link ZipEntry}: stored entries are views into the archive; deflated ones are inflated
 * once on `read()`, within `budget`. Throws a DataFormatError for a missing local header, data past the end, sizes
 * that deflate cannot produce, an unknown method, or (on `read()`) a broken stream or an exhausted budget.
 */
function zipEntry(z: ZipBytes, e: CentralEntry, budget: InflateBudget): ZipEntry {
  const { u16, u32, fail } = z;
  const { name: entryName, compSize, size, local, method } = e;
  if (u32(local) !== 0x04034b50) fail(`entry '${entryName}': no local header at byte ${local}`);
  const start = local + 30 + u16(local + 26) + u16(local + 28);
  if (start + compSize > z.n)
    fail(`entry '${entryName}' (${compSize} bytes at ${start}) runs past the end of the file`);
  const data = z.bytes.subarray(start, start + compSize);
  if (method === 0) {
    if (compSize !== size) fail(`entry '${entryName}' is stored but its sizes differ (${compSize} vs ${size})`);
    return { size, read: () => data };
  }
  if (method !== 8) fail(`entry '${entryName}' uses compression method ${method} (stored or deflate expected)`);
  if (size > 1032 * compSize + 1024 || size > 0x7fffffff)
    fail(`entry '${entryName}' claims ${size} bytes from ${compSize} deflated bytes, beyond what deflate can produce`);
  let cached: Uint8Array | undefined;
  const read = () => {
    if (cached) return cached;
    if (budget.used + size > budget.limit)
      fail(
        `entry '${entryName}' inflates to ${size} bytes, which would bring the archive's decompressed total to ${budget.used + size} bytes, past the budget of ${budget.text}; a checkpoint PyTorch writes stores its tensors uncompressed, so this looks like a decompression bomb`,
      );
    budget.used += size;
    const buf = new Uint8Array(size);
    let got: Uint8Array;
    try {
      got = inflateSync(data, { out: buf });
    } catch (error) {
      return fail(`entry '${entryName}' does not inflate (${(error as Error).message})`);
    }
    if (got.length !== size) fail(`entry '${entryName}' inflates to ${got.length} bytes, the directory says ${size}`);
    cached = got;
    return got;
  };
  return { size, read };
}

/**
 * The entries of a zip archive as PyTorch writes them (`torch.save`, `torch.jit.save`: stored, uncompressed
 * entries, ZIP64 end records), read from the central directory with every count, size and offset checked against
 * the input, so a hostile or damaged file ends in a DataFormatError naming `name` (never a huge loop or allocation).
 * Stored entries are views into `bytes`; deflated ones (TorchScript's code/ files) are inflated on `read()` into a
 * buffer of their declared size, which is checked against the deflate limit (at most 1032 × the compressed size).
 * Each entry is inflated at most once (the bytes are kept), and all inflated entries together must stay within
 * `options.inflateBudget`, so a small archive whose entries inflate to gigabytes, or one entry referenced many
 * times, ends in a DataFormatError instead of minutes of work and gigabytes of memory.
 * Stages: {@link zipBytes} → {@link readCentralDirectory} → {@link readCentralEntry} per record → a lazy entry.
 */
export function readZipEntries(
  bytes: Uint8Array,
  name: string,
  options: ZipReadOptions = {},
): Record<string, ZipEntry> {
  const limit = options.inflateBudget ?? defaultInflateBudget(bytes.length);
  const text =
    options.inflateBudget === undefined
      ? `${limit} bytes (64 MiB + 4 × the ${bytes.length}-byte file)`
      : `${limit} bytes (inflateBudget)`;
  const budget: InflateBudget = { limit, text, used: 0 };
  const z = zipBytes(bytes, name);
  const cd = readCentralDirectory(z);
  const out: Record<string, ZipEntry> = {};
  let p = cd.offset;
  for (let i = 0; i < cd.entries; i++) {
    const entry = readCentralEntry(z, cd, p, i);
    out[entry.name] = zipEntry(z, entry, budget);
    p = entry.next;
  }
  return out;
}
