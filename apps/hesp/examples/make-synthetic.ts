// Writes a small synthetic frame-directory video set (5 classes, DFER-CLIP list format) for trying `pnpm hesp`.
// Usage: pnpm example apps/hesp/examples/make-synthetic.ts <out dir>
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const out = process.argv[2] ?? 'runs/hesp-synthetic-data';
async function clip(name: string, label: number, k: number, n: number): Promise<string> {
  const dir = join(out, 'frames', name);
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f < n; f++) {
    const px = new Uint8Array(48 * 48 * 3).map((_, i) => (label * 50 + (i % 3) * 40 + ((i >> 6) * (label + 1)) + f * 3 + k * 7) % 256);
    writeFileSync(join(dir, `${String(f).padStart(5, '0')}.png`), await sharp(px, { raw: { width: 48, height: 48, channels: 3 } }).png().toBuffer());
  }
  return `frames/${name} ${n} ${label}`;
}
const train: string[] = [];
const test: string[] = [];
for (const label of [0, 1, 2]) for (let k = 0; k < 6; k++) train.push(await clip(`tr_${label}_${k}`, label, k, 10));
for (const label of [0, 1, 2, 3, 4]) for (let k = 0; k < 3; k++) test.push(await clip(`te_${label}_${k}`, label, k + 10, 10));
writeFileSync(join(out, 'train.txt'), `${train.join('\n')}\n`);
writeFileSync(join(out, 'test.txt'), `${test.join('\n')}\n`);
console.log(`${train.length} training and ${test.length} test clips in ${out}`);
