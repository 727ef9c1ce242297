import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DataFormatError } from './errors.js';
import {
  checkSafetensorsEntry,
  checkSafetensorsRanges,
  decodeSafetensors,
  decodeSafetensorsEntry,
  encodeSafetensors,
  indexSafetensors,
  readSafetensorsHeader,
} from './safetensors.js';
import {
  callGlobal,
  checkpointTensors,
  convertTensors,
  openCheckpointArchive,
  PendingTensor,
  PICKLE_OPCODES,
  PickleMachine,
  unpickle,
} from './torch-checkpoint.js';
import { readCentralDirectory, readCentralEntry, zipBytes } from './zip.js';

const fail = (m: string): never => {
  throw new DataFormatError({ file: 'x', message: m });
};
const run = <T>(g: Generator<void, T, void>): T => {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
};
const noTensor = (): PendingTensor => fail('no tensors here');

describe('zip reader stages', () => {
  const archive = zipSync({ 'a/x.bin': new Uint8Array([1, 2, 3]), 'a/yy.txt': new Uint8Array(10) }, { level: 0 });
  it('readCentralDirectory finds both entries and readCentralEntry walks them with names and sizes', () => {
    const z = zipBytes(archive, 'a.zip');
    const cd = readCentralDirectory(z);
    expect(cd.entries).toBe(2);
    const first = readCentralEntry(z, cd, cd.offset, 0);
    const second = readCentralEntry(z, cd, first.next, 1);
    expect([first.name, first.size, first.method]).toEqual(['a/x.bin', 3, 0]);
    expect([second.name, second.size]).toEqual(['a/yy.txt', 10]);
    expect(second.next).toBe(cd.offset + cd.size);
  });
  it('zipBytes reads are bounds-checked and name the file', () => {
    const z = zipBytes(new Uint8Array(3), 'short.zip');
    expect(() => z.u32(0)).toThrow(/short\.zip.*runs past the end at byte 0/);
    expect(() => readCentralDirectory(z)).toThrow(/no end-of-central-directory/);
  });
  it('readCentralEntry refuses a record without its signature', () => {
    const z = zipBytes(archive, 'a.zip');
    const cd = readCentralDirectory(z);
    expect(() => readCentralEntry(z, cd, cd.offset + 1, 0)).toThrow(/entry 0 at byte \d+ has no signature/);
  });
});

describe('safetensors stages', () => {
  const bytes = encodeSafetensors(
    { a: { dims: [2], data: Float32Array.of(1, 2) }, b: { dims: [1, 1], data: Float32Array.of(3) } },
    { k: 'v' },
  );
  it('readSafetensorsHeader gives the header object and the data offset', () => {
    const { header, base } = readSafetensorsHeader(bytes, 'f.safetensors');
    expect(Object.keys(header).sort()).toEqual(['__metadata__', 'a', 'b']);
    expect(base % 8).toBe(0);
    expect(base + 12).toBe(bytes.length);
  });
  it('checkSafetensorsEntry checks one entry and decodeSafetensorsEntry reads its values', () => {
    const { header, base } = readSafetensorsHeader(bytes);
    const b = checkSafetensorsEntry('b', header.b);
    expect(b).toEqual({ key: 'b', dtype: 'F32', dims: [1, 1], count: 1, b: 8, e: 12 });
    expect(Array.from(decodeSafetensorsEntry(bytes, base, b))).toEqual([3]);
    expect(() => checkSafetensorsEntry('c', { dtype: 'I8', shape: [1], data_offsets: [0, 1] }, 'f')).toThrow(
      /dtype "I8" is not supported/,
    );
    expect(() => decodeSafetensorsEntry(bytes, base, { ...b, b: 4 }, 'f')).toThrow(/do not hold 1 F32 values/);
  });
  it('integer and BOOL entries (position_ids buffers) are checked and listed, not read; damaged ones still refused', () => {
    const file = (entries: Record<string, unknown>, data: number) => {
      const json = Buffer.from(JSON.stringify(entries).padEnd(128, ' '));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return new Uint8Array(Buffer.concat([len, json, Buffer.alloc(data)]));
    };
    const ok = file(
      {
        w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        'text_model.embeddings.position_ids': { dtype: 'I64', shape: [1, 2], data_offsets: [8, 24] },
        'bn.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [24, 32] },
      },
      32,
    );
    const f = decodeSafetensors(ok, 'f');
    expect(Object.keys(f.tensors)).toEqual(['w']);
    expect(f.integerTensors).toEqual(['text_model.embeddings.position_ids', 'bn.num_batches_tracked']);
    const index = indexSafetensors(ok, ok.length, 'f');
    expect([Object.keys(index.entries), index.integerTensors]).toEqual([
      ['w'],
      ['text_model.embeddings.position_ids', 'bn.num_batches_tracked'],
    ]);
    // any other integer tensor is named by its dtype (a weight stored as integers is not 'missing')
    const weight = file({ 'mlp.weight': { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, 8);
    expect(() => decodeSafetensors(weight, 'f')).toThrow(/'mlp\.weight'.*dtype "I32" is not supported/);
    const overlapping = file(
      {
        w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        position_ids: { dtype: 'I64', shape: [1], data_offsets: [4, 12] },
      },
      12,
    );
    expect(() => decodeSafetensors(overlapping, 'f')).toThrow(/'position_ids'.*overlap those of 'w'/);
    expect(() => indexSafetensors(overlapping, overlapping.length, 'f')).toThrow(/overlap/);
    const short = file({ position_ids: { dtype: 'I64', shape: [4], data_offsets: [0, 16] } }, 16);
    expect(() => decodeSafetensors(short, 'f')).toThrow(/'position_ids'.*do not hold 4 I64 values/);
    expect(() => decodeSafetensors(file({ p: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8), 'f')).toThrow(
      /dtype "C64" is not supported/,
    );
  });
  it('checkSafetensorsRanges refuses overlapping ranges and accepts empty ones anywhere', () => {
    const e = (key: string, b: number, end: number) => ({ key, dtype: 'F32' as const, dims: [], count: 0, b, e: end });
    expect(() => checkSafetensorsRanges([e('a', 0, 8), e('z', 8, 8), e('b', 8, 12)])).not.toThrow();
    expect(() => checkSafetensorsRanges([e('a', 0, 8), e('b', 4, 12)], 'f')).toThrow(/overlap those of 'a'/);
  });
});

describe('pickle machine stages', () => {
  const pickle = (...b: number[]) => Uint8Array.from(b);
  it('every opcode of the table runs on the machine: a dict of two ints', () => {
    // PROTO 2, EMPTY_DICT, MARK, SHORT_BINUNICODE 'a', BININT1 7, SHORT_BINUNICODE 'b', BININT2 300, SETITEMS, STOP
    const pkl = pickle(0x80, 2, 0x7d, 0x28, 0x8c, 1, 97, 0x4b, 7, 0x8c, 1, 98, 0x4d, 44, 1, 0x75, 0x2e);
    const out = run(unpickle(pkl, noTensor, fail, { opcodes: 100, objects: 100 }));
    expect(out).toEqual(
      new Map<unknown, unknown>([
        ['a', 7],
        ['b', 300],
      ]),
    );
    expect(PICKLE_OPCODES.filter(Boolean).length).toBe(41); // the 41 cases of the switch it replaced;
    expect(PICKLE_OPCODES[0x2e]).toBeDefined();
    expect(PICKLE_OPCODES[0x69]).toBeUndefined(); // INST: never needed, refused
  });
  it('a single handler acts on the machine state (TUPLE2 pops two, pushes one)', () => {
    const vm = new PickleMachine(pickle(), noTensor, fail, { opcodes: 10, objects: 10 });
    vm.push(1);
    vm.push(2);
    PICKLE_OPCODES[0x86]!(vm);
    expect(vm.stack).toEqual([[1, 2]]);
    expect(() => PICKLE_OPCODES[0x86]!(vm)).toThrow(/stack underflow/);
  });
  it('callGlobal emulates an OrderedDict and refuses os.system by name', () => {
    const vm = new PickleMachine(pickle(), noTensor, fail, { opcodes: 10, objects: 10 });
    expect(callGlobal(vm, { kind: 'global', module: 'collections', name: 'OrderedDict' }, [])).toEqual(new Map());
    expect(() => callGlobal(vm, { kind: 'global', module: 'os', name: 'system' }, ['ls'])).toThrow(
      /calls os\.system, which a checkpoint of tensors does not need/,
    );
  });
  it('the opcode budget counts elements copied by set()', () => {
    const vm = new PickleMachine(pickle(), noTensor, fail, { opcodes: 5, objects: 10 });
    expect(() => callGlobal(vm, { kind: 'global', module: 'builtins', name: 'set' }, [[1, 2, 3, 4, 5, 6]])).toThrow(
      /exceeds the budget of 5 opcodes/,
    );
  });
});

describe('checkpoint stages', () => {
  const file = join(import.meta.dirname, '..', 'test-data', 'torch', 'small-state-dict.pt');
  it('openCheckpointArchive finds the pickle and prefix; storages are counted once', () => {
    const a = openCheckpointArchive(readFileSync(file), 'small-state-dict.pt', {});
    expect(a.pickle[0]).toBe(0x80);
    expect(a.prefix.endsWith('/')).toBe(true);
    expect(a.torchscript).toBe(false);
    const first = a.readStorage(`${a.prefix}data/0`)!;
    a.readStorage(`${a.prefix}data/0`);
    expect(a.storageBytes()).toBe(first.byteLength);
  });
  it('openCheckpointArchive names a zip without data.pkl', () => {
    expect(() => openCheckpointArchive(zipSync({ 'a/b': new Uint8Array(1) }), 'z.pt', {})).toThrow(
      /z\.pt.*no data\.pkl inside; entries: a\/b/,
    );
  });
  it('checkpointTensors keeps only tensors of a state dict, and refuses a dict without any', () => {
    const t = new PendingTensor([1], new Uint8Array(4), 'FloatStorage', 4, 0, 1);
    const got = run(
      checkpointTensors(
        new Map<unknown, unknown>([
          ['w', t],
          ['n', 3],
        ]),
        false,
        fail,
      ),
    );
    expect(got.kind).toBe('state-dict');
    expect(Object.keys(got.pending)).toEqual(['w']);
    expect(() => run(checkpointTensors(new Map(), false, fail))).toThrow(/holds no tensors/);
  });
  it('convertTensors converts float16 and refuses output past the budget', () => {
    const half = () => new PendingTensor([2], Uint8Array.of(0, 0x3c, 0, 0xc0), 'HalfStorage', 2, 0, 2);
    const out = run(convertTensors({ h: half() }, 10, 'test', fail));
    expect(Array.from(out.h!.data)).toEqual([1, -2]);
    expect(() => run(convertTensors({ a: half(), b: half() }, 3, 'test budget', fail))).toThrow(
      /4\+ float32 values, past the budget of 3 \(test budget\); 'b'/,
    );
  });
});
