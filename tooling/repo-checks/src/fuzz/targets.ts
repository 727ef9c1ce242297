/**
 * Every parser of untrusted input in vlfer, with seed inputs: what the fuzz tests feed truncations, bit flips,
 * insertions and random bytes to. A parser passes when every input ends, within the time bound, in a result or a
 * VlferError (DataFormatError, InvalidArgumentError, ChecksumError, FileIoError) that names what was wrong.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtobuf, decodeSafetensors, encodeSafetensors, readTorchCheckpoint } from '@vlfer/core';
import { loadCheckpoint, readJsonLines, saveCheckpoint } from '@vlfer/core/node';
import {
  parseAffectNetCsvText,
  parseCsvText,
  parseFerPlusCsvText,
  parseLabelSetJson,
  parseRafDbListText,
  parseVideoListText,
} from '@vlfer/datasets';
import { clipArchFromConfig, parsePreprocessorConfig } from '@vlfer/encoders';
import { decodeImage } from '@vlfer/encoders/node';
import { importedTeacher, parseNpy } from '@vlfer/llm-knowledge/node';
import { nestedDictPickle, noneOpcodeBomb, repoRoot, sharedPath, sharedStorageBomb } from '@vlfer/test-utils';

export interface FuzzTarget {
  name: string;
  seeds: () => Uint8Array[];
  run: (bytes: Uint8Array) => unknown;
}

const work = mkdtempSync(join(tmpdir(), 'vlfer-fuzz-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true })); // the fuzz runner's scratch files
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const file = (name: string, bytes: Uint8Array) => {
  const p = join(work, name);
  writeFileSync(p, bytes);
  return p;
};
const torchDir = join(repoRoot, 'packages', 'core', 'test-data', 'torch');
const json = (b: Uint8Array): unknown => {
  try {
    return JSON.parse(str(b));
  } catch {
    return str(b);
  }
};

function npy(): Uint8Array {
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const h = Buffer.from(`${header}${' '.repeat(64 - ((10 + header.length + 1) % 64))}\n`, 'latin1');
  const pre = Buffer.alloc(10);
  pre[0] = 0x93;
  pre.write('NUMPY', 1, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(h.length, 8);
  return Buffer.concat([pre, h, Buffer.from(Float32Array.of(1, 2, 3, 4, 5, 6).buffer)]);
}

function checkpointBytes(): Uint8Array {
  const p = join(work, 'seed.ckpt');
  saveCheckpoint(p, {
    tensors: { w: { dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) } },
    optimizer: { step: 3, buffers: { w: Float32Array.of(0, 1, 0, 1) } },
    meta: { epoch: 1, step: 0, key: 'x' },
  });
  return readFileSync(p);
}

export const FUZZ_TARGETS: FuzzTarget[] = [
  {
    name: 'torch checkpoint (zip + restricted unpickler)',
    seeds: () => [
      ...['small-state-dict.pt', 'small-scripted.pt', 'small-module.pt'].map((f) => readFileSync(join(torchDir, f))),
      // issue 22 item 8, made small: 301 tensors over one storage inflating to 256 MiB (270 KB; the original was
      // 1 GiB in 1 MB), a deflated pickle of 150 MiB of NONE opcodes (156 KB), 50,000 nested dicts (250 KB)
      sharedStorageBomb({ refs: 301, mib: 256 }),
      noneOpcodeBomb({ mib: 150 }),
      nestedDictPickle(50_000),
    ],
    run: (b) => readTorchCheckpoint(b, 'fuzz.pt'),
  },
  {
    name: 'safetensors',
    seeds: () => [
      encodeSafetensors(
        { a: { dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, b: { dims: [3], data: Float32Array.of(5, 6, 7) } },
        { k: 'v' },
      ),
    ],
    run: (b) => decodeSafetensors(b, 'fuzz.safetensors'),
  },
  {
    name: 'checkpoint (safetensors + checksum + metadata)',
    seeds: () => [checkpointBytes()],
    run: (b) => loadCheckpoint(file('fuzz.ckpt', b)),
  },
  { name: 'npy', seeds: () => [npy()], run: (b) => parseNpy(b, 'fuzz.npy') },
  {
    name: 'CSV',
    seeds: () => [text('a,b,"c ""q"""\r\n1,2,3\n"x\ny",5,6\n')],
    run: (b) => parseCsvText(str(b), 'fuzz.csv'),
  },
  {
    name: 'AffectNet CSV',
    seeds: () => [text('\uFEFFsubDirectory_filePath,face_x,expression,valence\n1/a.jpg,0,3,0.1\n2/b.jpg,0,7,0.2\n')],
    run: (b) => parseAffectNetCsvText(str(b), { file: 'fuzz.csv', classes: 8 }),
  },
  {
    name: 'FERPlus CSV',
    seeds: () => [
      text(
        'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\nTraining,fer0.png,4,0,0,1,3,2,0,0,0,0\nPrivateTest,fer1.png,0,10,0,0,0,0,0,0,0,0\n',
      ),
    ],
    run: (b) => parseFerPlusCsvText(str(b), { file: 'fuzz.csv' }),
  },
  {
    name: 'RAF-DB list',
    seeds: () => [text('train_00001.jpg 5\ntest_0001.jpg 1\n')],
    run: (b) => parseRafDbListText(str(b), { file: 'fuzz.txt', split: 'train' }),
  },
  {
    name: 'video list',
    seeds: () => [text('frames/a 10 0\n/abs/frames/b 20 3 Anger\n')],
    run: (b) => parseVideoListText(str(b), { file: 'fuzz.txt' }),
  },
  {
    name: 'label set JSON',
    seeds: () => [text('{"id": "x", "names": ["anger", "contempt"]}'), text('["happy", "sad"]')],
    run: (b) => parseLabelSetJson(str(b), 'fuzz.json'),
  },
  {
    name: 'JSON lines',
    seeds: () => [text('{"a": 1}\n{"b": [1, 2]}\n{"c": "x"')],
    run: (b) => readJsonLines(file('fuzz.jsonl', b)),
  },
  {
    name: 'imported targets JSONL',
    seeds: () => [text('{"path": "a.jpg", "embedding": [1, 2, 3]}\n{"path": "b.jpg", "embedding": [0.5, -1, 2]}\n')],
    run: (b) => importedTeacher({ file: file('fuzz-targets.jsonl', b) }),
  },
  {
    name: 'CLIP config.json',
    seeds: () => [readFileSync(sharedPath('fixtures', 'tiny-clip', 'config.json'))],
    run: (b) => clipArchFromConfig(json(b) as Record<string, unknown>, 'fuzz-config.json'),
  },
  {
    name: 'preprocessor_config.json',
    seeds: () => [readFileSync(sharedPath('fixtures', 'tiny-clip', 'preprocessor_config.json'))],
    run: (b) => parsePreprocessorConfig(json(b) as Record<string, unknown>, 'fuzz-pp.json'),
  },
  {
    name: 'ONNX protobuf',
    seeds: () => [readFileSync(sharedPath('fixtures', 'tiny-clip', 'onnx', 'text_model.onnx')).subarray(0, 4096)],
    run: (b) => decodeProtobuf(b, 'fuzz.onnx'),
  },
  {
    name: 'image decoding (sharp)',
    seeds: () => [
      readFileSync(
        sharedPath(
          'data',
          'fer2013-privatetest',
          'happy',
          readdir(sharedPath('data', 'fer2013-privatetest', 'happy'))[0]!,
        ),
      ),
    ],
    run: (b) => decodeImage(b),
  },
];

function readdir(d: string): string[] {
  return readdirSync(d).sort();
}
