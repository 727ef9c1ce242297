// From the repo root: pnpm example packages/image/examples/decode-resize.ts  (reads ../shared/data/fer2013-privatetest)
import { createHash } from 'node:crypto';
import { pilResize, pillowResizeWindow } from '@vlfer/image';
import { decodeImage, decodePillowImage } from '@vlfer/image/node';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);
const face = await decodeImage(`${shared}/data/fer2013-privatetest/happy/PrivateTest_10077120.jpg`); // Pillow's bytes
console.log(`FER2013 face: ${face.width}x${face.height}, ${face.channels} channel(s)`);
const rgb3 = Uint8Array.from({ length: face.width * face.height * 3 }, (_, i) => face.data[Math.floor(i / 3)]!); // convert('RGB')
for (const filter of ['bilinear', 'bicubic'] as const)
  for (const resampler of ['wasm', 'js'] as const) {
    const out = pilResize(rgb3, face.width, face.height, 3, 224, 224, filter, resampler); // Image.resize((224, 224), filter)
    console.log(`  ${filter} 224x224 (${resampler}): sha256 ${sha(out)}…`);
  }
const cmyk = await decodePillowImage('packages/image/test-data/decoding/cmyk.jpg'); // the mode Pillow opens it in
const rgb = pillowResizeWindow(cmyk, 8, 8, { x: 0, y: 0, width: 8, height: 8 }); // resized in CMYK, then convert('RGB')
console.log(
  `CMYK JPEG: mode ${cmyk.mode}, ${cmyk.width}x${cmyk.height} → 8x8 RGB, first pixel ${[...rgb.data.subarray(0, 3)]}`,
);
try {
  await decodeImage('/etc/hostname');
} catch (e) {
  console.log((e as Error).message);
}
