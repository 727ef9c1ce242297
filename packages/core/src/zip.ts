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
 * The entries of a zip archive as PyTorch writes them (`torch.save`, `torch.jit.save`: stored, uncompressed
 * entries, ZIP64 end records), read from the central directory with every count, size and offset checked against
 * the input, so a hostile or damaged file ends in a DataFormatError naming `name` (never a huge loop or allocation).
 * Stored entries are views into `bytes`; deflated ones (TorchScript's code/ files) are inflated on `read()` into a
 * buffer of their declared size, which is checked against the deflate limit (at most 1032 × the compressed size).
 * Each entry is inflated at most once (the bytes are kept), and all inflated entries together must stay within
 * `options.inflateBudget`, so a small archive whose entries inflate to gigabytes, or one entry referenced many
 * times, ends in a DataFormatError instead of minutes of work and gigabytes of memory.
 */
export function readZipEntries(
  bytes: Uint8Array,
  name: string,
  options: ZipReadOptions = {},
): Record<string, ZipEntry> {
  const budget = options.inflateBudget ?? defaultInflateBudget(bytes.length);
  const budgetText =
    options.inflateBudget === undefined
      ? `${budget} bytes (64 MiB + 4 × the ${bytes.length}-byte file)`
      : `${budget} bytes (inflateBudget)`;
  let inflated = 0;
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
  // end of central directory: the last 'PK\5\6' within the final 64 KiB + 22 bytes
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
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== 0x07064b50) fail('ZIP64 end-of-central-directory locator missing');
    const z64 = u64(loc + 8);
    if (u32(z64) !== 0x06064b50) fail(`no ZIP64 end-of-central-directory record at byte ${z64}`);
    entries = u64(z64 + 32);
    cdSize = u64(z64 + 40);
    cdOffset = u64(z64 + 48);
  }
  if (cdOffset + cdSize > n)
    fail(`central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the ${n}-byte file`);
  if (entries * 46 > cdSize)
    fail(`the central directory says ${entries} entries but holds ${cdSize} bytes (at least 46 per entry)`);
  const out: Record<string, ZipEntry> = {};
  let p = cdOffset;
  for (let i = 0; i < entries; i++) {
    if (u32(p) !== 0x02014b50) fail(`central directory entry ${i} at byte ${p} has no signature`);
    const method = u16(p + 10);
    let compSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let local = u32(p + 42);
    if (p + 46 + nameLen + extraLen + commentLen > cdOffset + cdSize)
      fail(`central directory entry ${i} runs past the directory`);
    const entryName = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
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
    if (u32(local) !== 0x04034b50) fail(`entry '${entryName}': no local header at byte ${local}`);
    const start = local + 30 + u16(local + 26) + u16(local + 28);
    if (start + compSize > n)
      fail(`entry '${entryName}' (${compSize} bytes at ${start}) runs past the end of the file`);
    const data = bytes.subarray(start, start + compSize);
    if (method === 0) {
      if (compSize !== size) fail(`entry '${entryName}' is stored but its sizes differ (${compSize} vs ${size})`);
      out[entryName] = { size, read: () => data };
    } else if (method === 8) {
      if (size > 1032 * compSize + 1024 || size > 0x7fffffff)
        fail(
          `entry '${entryName}' claims ${size} bytes from ${compSize} deflated bytes, beyond what deflate can produce`,
        );
      let cached: Uint8Array | undefined;
      out[entryName] = {
        size,
        read: () => {
          if (cached) return cached;
          if (inflated + size > budget)
            fail(
              `entry '${entryName}' inflates to ${size} bytes, which would bring the archive's decompressed total to ${inflated + size} bytes, past the budget of ${budgetText}; a checkpoint PyTorch writes stores its tensors uncompressed, so this looks like a decompression bomb`,
            );
          inflated += size;
          const buf = new Uint8Array(size);
          let got: Uint8Array;
          try {
            got = inflateSync(data, { out: buf });
          } catch (error) {
            return fail(`entry '${entryName}' does not inflate (${(error as Error).message})`);
          }
          if (got.length !== size)
            fail(`entry '${entryName}' inflates to ${got.length} bytes, the directory says ${size}`);
          cached = got;
          return got;
        },
      };
    } else {
      fail(`entry '${entryName}' uses compression method ${method} (stored or deflate expected)`);
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}
