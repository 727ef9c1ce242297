// From the repo root: pnpm example packages/image/examples/decode-resize.ts  (reads ../shared/data/fer2013-privatetest)
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { pilResize, pillowResizeWindow } from '@vlfer/image';
import { decodeImage, decodePillowImage, nativeJpeg } from '@vlfer/image/node';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);
const native = nativeJpeg(); // libturbojpeg called directly, self-tested against Pillow's bytes: what 'auto' decodes with
console.log(
  `native libjpeg-turbo: ${native.available ? basename(native.library!) : `not available (${native.reason})`}`,
);
const face = await decodeImage(`${shared}/data/fer2013-privatetest/happy/PrivateTest_10077120.jpg`); // Pillow's bytes
console.log(`FER2013 face: ${face.width}x${face.height}, ${face.channels} channel(s)`);
const rgb3 = Uint8Array.from({ length: face.width * face.height * 3 }, (_, i) => face.data[Math.floor(i / 3)]!); // convert('RGB')
for (const filter of ['bilinear', 'bicubic'] as const)
  for (const resampler of ['wasm', 'js'] as const) {
    const out = pilResize(rgb3, face.width, face.height, 3, 224, 224, filter, resampler); // Image.resize((224, 224), filter)
    console.log(`  ${filter} 224x224 (${resampler}): sha256 ${sha(out)}…`);
  }
// Image.draft('RGB', (10, 7)) on a 21×14 JPEG: libjpeg's DCT scaling by 2, as Pillow (test-data/pillow-draft.json)
const drafted = await decodeImage('packages/image/test-data/decoding/jpeg-420.jpg', {
  draft: { width: 10, height: 7 },
});
console.log(`drafted 4:2:0 JPEG: ${drafted.width}x${drafted.height}, sha256 ${sha(drafted.data)}…`);
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
