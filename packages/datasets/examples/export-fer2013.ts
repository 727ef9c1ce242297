// Run from the repository root: pnpm example packages/datasets/examples/export-fer2013.ts <a new directory>
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { FER2013_CLASS_FOLDERS } from '@vlfer/datasets';
import { exportFer2013Csv, listImages, loadImageFolder } from '@vlfer/datasets/node';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository
const out = process.argv[2];
if (!out || existsSync(out)) throw new Error('usage: export-fer2013.ts <a new directory> (it must not exist)');
mkdirSync(out);

// a small fer2013.csv in the original release's format, from 3 real PrivateTest faces of each class
const rows = ['emotion,pixels,Usage'];
const faces: Uint8Array[] = [];
for (const [emotion, folder] of FER2013_CLASS_FOLDERS.entries())
  for (const file of listImages(`${shared}/data/fer2013-privatetest/${folder}`).paths.slice(0, 3)) {
    const pixels = new Uint8Array(await sharp(file).greyscale().raw().toBuffer());
    faces.push(pixels);
    rows.push(`${emotion},${pixels.join(' ')},PrivateTest`);
  }
writeFileSync(join(out, 'fer2013.csv'), `${rows.join('\n')}\n`);

const r = await exportFer2013Csv({ csv: join(out, 'fer2013.csv'), out: join(out, 'faces') });
console.log(r.layout, r.written, `skipped ${r.skipped}`);
const set = await loadImageFolder(join(out, 'faces', 'PrivateTest'));
console.log(`${set.items.length} images, label set ${set.labelSet.id} (${set.labelSetReason})`);
let same = 0;
for (const [i, item] of set.items.entries()) {
  const index = Number(/row(\d+)\.png$/.exec(item.path)![1]);
  const back = new Uint8Array(await sharp(item.path).toColourspace('b-w').raw().toBuffer());
  if (back.every((v, k) => v === faces[index]![k])) same++;
  if (i === 0) console.log('first:', relative(out, item.path), set.labelSet.names[item.label]);
}
console.log(`${same} of ${set.items.length} faces read back with exactly the CSV's pixels`);
