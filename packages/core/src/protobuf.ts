import { DataFormatError } from './errors.js';

// A bounds-checked reader of the protobuf wire format (ONNX models are protobuf): the counterpart of the ONNX writer.

/** One field of a protobuf message: number, wire type, raw bytes (and the value of a varint). */
export type ProtobufField = { field: number; wire: number; raw: Uint8Array; varint?: bigint };

/** A protobuf varint at `pos` (at most 10 bytes). @returns the value and the position after it */
export function readVarint(b: Uint8Array, pos: number, file: string): [bigint, number] {
  let v = 0n,
    shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length)
      throw new DataFormatError({ file, message: `protobuf varint runs past the end at byte ${pos}` });
    const x = b[pos++]!;
    v |= BigInt(x & 0x7f) << shift;
    if (!(x & 0x80)) return [v, pos];
    shift += 7n;
  }
  throw new DataFormatError({ file, message: `protobuf varint longer than 10 bytes at byte ${pos}` });
}

/**
 * The fields of one protobuf message (wire format), bounds-checked: any input ends in a list or a
 * DataFormatError naming `file`. @param file named in errors
 */
export function decodeProtobuf(b: Uint8Array, file = '<protobuf bytes>'): ProtobufField[] {
  const out: ProtobufField[] = [];
  let pos = 0;
  const take = (from: number, n: number) => {
    if (n < 0 || from + n > b.length)
      throw new DataFormatError({
        file,
        message: `protobuf field of ${n} bytes at byte ${from} runs past the end (${b.length} bytes)`,
      });
    return b.subarray(from, from + n);
  };
  while (pos < b.length) {
    const [key, p1] = readVarint(b, pos, file);
    const field = Number(key >> 3n),
      wire = Number(key & 7n);
    if (field === 0) throw new DataFormatError({ file, message: `protobuf field number 0 at byte ${pos}` });
    if (wire === 0) {
      const [v, p2] = readVarint(b, p1, file);
      out.push({ field, wire, raw: b.subarray(p1, p2), varint: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = readVarint(b, p1, file);
      if (len > BigInt(b.length))
        throw new DataFormatError({ file, message: `protobuf length ${len} at byte ${p1} exceeds the input` });
      out.push({ field, wire, raw: take(p2, Number(len)) });
      pos = p2 + Number(len);
    } else if (wire === 5) {
      out.push({ field, wire, raw: take(p1, 4) });
      pos = p1 + 4;
    } else if (wire === 1) {
      out.push({ field, wire, raw: take(p1, 8) });
      pos = p1 + 8;
    } else throw new DataFormatError({ file, message: `unsupported protobuf wire type ${wire} at byte ${pos}` });
  }
  return out;
}
