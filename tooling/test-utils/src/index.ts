import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyWritable } from './copy.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Absolute path of a file under the shared assets folder: `$VLFER_SHARED` if set, else `<repo>/../shared`.
 * Throws (so the test fails with this message, never skips) when the file is absent.
 */
export function sharedPath(...parts: string[]): string {
  const base = process.env.VLFER_SHARED ?? join(repoRoot, '..', 'shared');
  const p = join(base, ...parts);
  if (!existsSync(p)) {
    throw new Error(
      `Test asset missing: ${p}. The tests read fixtures from the shared folder beside the repository (../shared) or from $VLFER_SHARED.`,
    );
  }
  return p;
}

/** The PyTorch reference values (`shared/fixtures/references/references.json`). */
export function loadReferences(): any {
  return JSON.parse(readFileSync(sharedPath('fixtures', 'references', 'references.json'), 'utf8'));
}

/** Max absolute difference between two flat numeric arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max|a−b| ÷ max|b| over two flat numeric arrays of equal length: an error relative to the reference's scale. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxRelErr: lengths differ (${a.length} vs ${b.length})`);
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** A raw little-endian float32 reference file of `shared/fixtures/references/` (e.g. `grad_pixel_values.f32`). */
export function referenceF32(file: string): Float32Array {
  const b = readFileSync(sharedPath('fixtures', 'references', file));
  if (b.byteLength % 4 !== 0) throw new Error(`${file}: ${b.byteLength} bytes is not a whole number of float32 values`);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The two reference images as CLIP pixel values, [2, 3, 224, 224] (`pixel_values.f32`, PyTorch's input). */
export function referencePixels(): {
  dtype: 'float32';
  data: Float32Array;
  dims: [number, number, number, number];
} {
  return { dtype: 'float32', data: referenceF32('pixel_values.f32'), dims: [2, 3, 224, 224] };
}

export { repoRoot };

/**
 * Write a small synthetic frame-directory video set in the DFER-CLIP list format (`<frame_dir> <num_frames> <label>`,
 * frame dirs relative to `dir`): `dir/frames/<name>/00000.png …`, `dir/train.txt`, `dir/test.txt`. Each class has
 * its own colour pattern, so a model can tell them apart. Used by the HESP tests, the bench tests and the example.
 */
export async function writeSyntheticVideoSet(
  dir: string,
  o: {
    trainClasses: number[];
    testClasses: number[];
    trainPerClass: number;
    testPerClass: number;
    trainFrames: number;
    testFrames: number;
    size?: number;
  },
): Promise<{ train: string; test: string; clips: number }> {
  const { default: sharp } = await import('sharp');
  const size = o.size ?? 32;
  const clip = async (name: string, label: number, k: number, n: number): Promise<string> => {
    const frameDir = join(dir, 'frames', name);
    mkdirSync(frameDir, { recursive: true });
    for (let f = 0; f < n; f++) {
      const px = new Uint8Array(size * size * 3).map(
        (_, i) => (label * 60 + (i % 3) * 40 + (i >> 5) * (label + 1) + f * 3 + k * 7) % 256,
      );
      writeFileSync(
        join(frameDir, `${String(f).padStart(5, '0')}.png`),
        await sharp(px, { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
    return `frames/${name} ${n} ${label}`;
  };
  const train: string[] = [];
  const test: string[] = [];
  for (const label of o.trainClasses)
    for (let k = 0; k < o.trainPerClass; k++) train.push(await clip(`tr_${label}_${k}`, label, k, o.trainFrames));
  for (const label of o.testClasses)
    for (let k = 0; k < o.testPerClass; k++) test.push(await clip(`te_${label}_${k}`, label, k + 10, o.testFrames));
  writeFileSync(join(dir, 'train.txt'), `${train.join('\n')}\n`);
  writeFileSync(join(dir, 'test.txt'), `${test.join('\n')}\n`);
  return { train: join(dir, 'train.txt'), test: join(dir, 'test.txt'), clips: train.length + test.length };
}

/**
 * The small synthetic video set of the bench tests (open-set splits of a 4-class set): {@link writeSyntheticVideoSet}
 * with classes 0–3, 4 training and 2 test clips per class, 4 frames a clip, written into `dir`. Returns it as a bench
 * data-config `videoSets` entry: the two lists and `root`, the folder their frame directories are relative to.
 */
export async function writeSmallVideoSet(dir: string): Promise<{ train: string; test: string; root: string }> {
  const { train, test } = await writeSyntheticVideoSet(dir, {
    trainClasses: [0, 1, 2, 3],
    testClasses: [0, 1, 2, 3],
    trainPerClass: 4,
    testPerClass: 2,
    trainFrames: 4,
    testFrames: 4,
  });
  return { train, test, root: dir };
}

/**
 * AFEW in the data-root layout of the paper configs of @vlfer/bench (`packages/bench/configs`): a 7-class synthetic
 * video set in `<dataRoot>/AFEW` (1 training and 1 test clip per class, 3 frames a clip) and its DFER-CLIP-format
 * lists, `<dataRoot>/AFEW-annotation/AFEW_train.txt` and `<dataRoot>/Exp-CLIP-annotation/AFEW_validation.txt` (the
 * test list, as Exp-CLIP publishes it).
 */
export async function writePaperAfew(dataRoot: string): Promise<void> {
  const all = [0, 1, 2, 3, 4, 5, 6];
  const afew = await writeSyntheticVideoSet(join(dataRoot, 'AFEW'), {
    trainClasses: all,
    testClasses: all,
    trainPerClass: 1,
    testPerClass: 1,
    trainFrames: 3,
    testFrames: 3,
  });
  for (const dir of ['Exp-CLIP-annotation', 'AFEW-annotation']) mkdirSync(join(dataRoot, dir));
  copyWritable(afew.test, join(dataRoot, 'Exp-CLIP-annotation', 'AFEW_validation.txt'));
  copyWritable(afew.train, join(dataRoot, 'AFEW-annotation', 'AFEW_train.txt'));
}

/**
 * A small copy of a class-folder image set (the FER2013 layout, `<class>/<image>`): the first `perClass` images of
 * every class folder of `from` (in name order) written to `to/<class>/<image>` by `write` (default: a byte copy;
 * a writable one; give one to re-encode or alter the pixels). Returns the written ids `<class>/<image>`, class by class in name order. Throws, naming
 * `from`, when it holds no class folder, and when `perClass` is not a positive integer.
 */
export async function copyClassFolderSubset(
  from: string,
  to: string,
  perClass: number,
  write: (source: string, target: string) => unknown = (source, target) => copyWritable(source, target),
): Promise<string[]> {
  if (!Number.isInteger(perClass) || perClass < 1)
    throw new Error(`copyClassFolderSubset: perClass must be a positive integer, got ${perClass}`);
  const classes = readdirSync(from)
    .filter((c) => statSync(join(from, c)).isDirectory())
    .sort();
  if (classes.length === 0) throw new Error(`copyClassFolderSubset: ${from} holds no class folder (<class>/<image>)`);
  const ids: string[] = [];
  for (const c of classes) {
    mkdirSync(join(to, c), { recursive: true });
    for (const f of readdirSync(join(from, c)).sort().slice(0, perClass)) {
      await write(join(from, c, f), join(to, c, f));
      ids.push(`${c}/${f}`);
    }
  }
  return ids;
}

/**
 * A class-folder image set of solid-colour PNGs: `root/<class>/<i>.png` for i = 0 … `perClass` − 1 and each class of
 * `classes`, every image `size`×`size` RGB filled with the byte `level(c, i)` (c: the class's index in `classes`).
 * The image-folder data set of the exp-clip command-line tests.
 */
export async function writeSolidClassFolders(
  root: string,
  o: { classes: string[]; perClass: number; size: number; level: (c: number, i: number) => number },
): Promise<void> {
  const { default: sharp } = await import('sharp');
  for (const [c, name] of o.classes.entries()) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < o.perClass; i++)
      writeFileSync(
        join(root, name, `${i}.png`),
        await sharp(new Uint8Array(o.size * o.size * 3).fill(o.level(c, i)), {
          raw: { width: o.size, height: o.size, channels: 3 },
        })
          .png()
          .toBuffer(),
      );
  }
}
export { runCli, runCliAsync, runCliKilledAfter, killChain, spawnCli, tsxLoader } from './cli.js';
export { sharedStorageBomb, noneOpcodeBomb, nestedDictPickle, manyTensorsCheckpoint } from './torch-bombs.js';
export { photoLikeJpeg } from './images.js';
export { addOwnerWrite, copyWritable } from './copy.js';
export { alive, commandLine, descendants, groupMembers, processReport, processThreads, until } from './processes.js';
