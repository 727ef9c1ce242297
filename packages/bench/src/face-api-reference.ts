import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { relative } from 'node:path';
import sharp from 'sharp';
import { throwIfAborted, type LabelSet, type ProgressCallback } from '@vlfer/core';
import { hashFile } from '@vlfer/core/node';
import { stratifiedSubset, type ImageItem } from '@vlfer/datasets';
import { loadImageFolder } from '@vlfer/datasets/node';
import { classificationReport, type ClassificationReport } from '@vlfer/metrics';

const require = createRequire(import.meta.url);

/** face-api.js FaceExpressionNet class → canonical expression name. */
export const FACE_API_CLASSES: Record<string, string> = {
  neutral: 'neutral',
  happy: 'happiness',
  sad: 'sadness',
  angry: 'anger',
  fearful: 'fear',
  disgusted: 'disgust',
  surprised: 'surprise',
};

export interface FaceApiReferenceResult {
  labelSet: LabelSet;
  items: ImageItem[];
  predictions: number[];
  report: ClassificationReport;
  msPerImage: number;
  backend: string;
  /** SHA-256 over the evaluated items' paths (relative to the root), labels and content hashes. */
  datasetFingerprint: string;
}

/** The packages the face-api method needs: optional peer dependencies of @vlfer/bench (tfjs is 100+ MB). */
export const FACE_API_PACKAGES = [
  '@vladmandic/face-api@1.7.15',
  '@tensorflow/tfjs@4.22.0',
  '@tensorflow/tfjs-backend-wasm@4.22.0',
];

/**
 * face-api.js on tfjs's wasm backend. @throws Error naming the packages to install when one of them is missing
 */
function loadFaceApi() {
  try {
    return require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  } catch (error) {
    if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND') throw error;
    throw new Error(
      `method face-api needs the optional peer dependencies of @vlfer/bench: npm install ${FACE_API_PACKAGES.join(' ')} (${(error as Error).message.split('\n')[0]})`,
      { cause: error },
    );
  }
}

/**
 * The supervised reference row: face-api.js's expression model (shipped in `@vladmandic/face-api`, run by
 * tfjs with the wasm backend) on a class-folder image set, each whole image given to the net (it resizes to
 * its 112-px input), scored by `@vlfer/metrics`. Known figure on FER2013 PrivateTest: accuracy 0.569.
 * `onProgress`: phase 'predict' (unit images); `signal` stops it between images (AbortedError).
 */
export async function runFaceApiReference(options: {
  root: string;
  limit?: number;
  subsetSeed?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}): Promise<FaceApiReferenceResult> {
  const faceapi = loadFaceApi();
  const tf = faceapi.tf;
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets.faceExpressionNet.loadFromDisk(
    join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model'),
  );
  const set = await loadImageFolder(options.root);
  // the same stratified, seeded subset `evaluateZeroShot` takes for the same limit and seed
  const items = options.limit
    ? stratifiedSubset(set.items, { limit: options.limit, seed: options.subsetSeed ?? 0 }).items
    : set.items;
  const fingerprint = createHash('sha256');
  for (const it of items) fingerprint.update(`${relative(options.root, it.path)}\t${it.label}\t${hashFile(it.path)}\n`);
  const predictions: number[] = [];
  const t0 = performance.now();
  for (const [k, it] of items.entries()) {
    throwIfAborted(options.signal, 'the face-api.js reference');
    const { data, info } = await sharp(it.path)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    const input = tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32');
    const scores = (await faceapi.nets.faceExpressionNet.predictExpressions(input)) as Record<string, number>;
    input.dispose();
    let best = '';
    for (const [name, p] of Object.entries(scores))
      if (typeof p === 'number' && (best === '' || p > scores[best]!)) best = name;
    const label = set.labelSet.names.indexOf(FACE_API_CLASSES[best]!);
    if (label < 0) throw new Error(`face-api class '${best}' is not in ${set.labelSet.id}`);
    predictions.push(label);
    options.onProgress?.({ phase: 'predict', done: k + 1, total: items.length, unit: 'images' });
  }
  const msPerImage = (performance.now() - t0) / items.length;
  return {
    labelSet: set.labelSet,
    items,
    predictions,
    report: classificationReport(
      items.map((i) => i.label),
      predictions,
      set.labelSet.names.length,
    ),
    msPerImage,
    backend: tf.getBackend(),
    datasetFingerprint: fingerprint.digest('hex'),
  };
}
