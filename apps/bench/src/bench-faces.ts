#!/usr/bin/env node
/**
 * @file pnpm bench:faces — face detection throughput on the CPU: images/s of `FaceDetector.detect` (letterbox
 * resize + ONNX Runtime + decode + NMS) for each detector at 640×480 and 1920×1080, on a real multi-face photo
 * (face-api's demo sample1.jpg, resized), and of the whole step from a JPEG file (decode + detect). Writes JSON.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { writeJsonAtomic } from '@vlfer/core/node';
import { decodeImage } from '@vlfer/encoders/node';
import { FACE_DETECTOR_IDS, FaceDetector } from '@vlfer/faces/node';
import { benchEnvironment } from './environment.js';
import { exitWithParent } from '@vlfer/cli-kit';

exitWithParent('bench:faces'); // a killed wrapper (pnpm) ends the benchmark too

const o = new Command('bench:faces')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--runs <n>', 'timed images per size', (v) => Number(v), 20)
  .option('--threads <n>', 'ONNX Runtime threads (default: every CPU)', (v) => Number(v))
  .option('--out <file>', 'results JSON', 'bench-results/faces.json')
  .parse()
  .opts();

const photo = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
  'demo',
  'sample1.jpg',
);
const tmp = mkdtempSync(join(tmpdir(), 'vlfer-bench-faces-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true })); // the resized JPEGs are scratch
const rows = [];
for (const id of FACE_DETECTOR_IDS) {
  const d = await FaceDetector.load(id, {
    modelDir: join(o.shared, 'assets', 'face-detectors'),
    ...(o.threads ? { threads: o.threads } : {}),
  });
  for (const [w, h] of [
    [640, 480],
    [1920, 1080],
  ] as const) {
    const file = join(tmp, `${w}x${h}.jpg`);
    writeFileSync(file, await sharp(photo).resize(w, h, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer());
    const img = await decodeImage(file);
    let faces = 0;
    for (let i = 0; i < 3; i++) faces = (await d.detect(img)).length; // warm-up
    let t0 = performance.now();
    for (let i = 0; i < o.runs; i++) await d.detect(img);
    const detectPerSecond = o.runs / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let i = 0; i < o.runs; i++) await d.detect(await decodeImage(file));
    const filePerSecond = o.runs / ((performance.now() - t0) / 1000);
    const g = d.geometry(w, h);
    rows.push({
      detector: id,
      image: `${w}x${h}`,
      input: `${g.inputWidth}x${g.inputHeight}`,
      faces,
      detectPerSecond,
      filePerSecond,
    });
    process.stdout.write(
      `${id.padEnd(10)} ${`${w}x${h}`.padEnd(10)} input ${`${g.inputWidth}x${g.inputHeight}`.padEnd(8)} ${faces} faces  detect ${detectPerSecond.toFixed(1)}/s  decode+detect ${filePerSecond.toFixed(1)}/s\n`,
    );
  }
  await d.dispose();
}
writeJsonAtomic(o.out, { environment: benchEnvironment(), runs: o.runs, rows });
process.stdout.write(`results in ${o.out}\n`);
