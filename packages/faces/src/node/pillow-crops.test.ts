import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { decodeImage } from '@vlfer/image/node';
import { describe, expect, it } from 'vitest';
import { cropFace } from '../index.js';

// References made by tools/fixtures/pillow_box_crops.py (Pillow 9.4: Image.crop, then resize BILINEAR; the command is
// in the file), from the face boxes OpenCV's FaceDetectorYN found (test-data/opencv/references.json).
const require = createRequire(import.meta.url);
const testData = join(import.meta.dirname, '..', '..', 'test-data');
const refs = JSON.parse(readFileSync(join(testData, 'pillow', 'box-crops.json'), 'utf8')) as {
  images: {
    name: string;
    pillowRgbSha256: string;
    crops: { face: number; margin: number; size: number; sha256: string }[];
  }[];
};
const boxes = new Map(
  (
    JSON.parse(readFileSync(join(testData, 'opencv', 'references.json'), 'utf8')) as {
      images: { name: string; faces: number[][] }[];
    }
  ).images.map((r) => [r.name, r.faces]),
);
const demo = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('box crops are Pillow’s (crop + bilinear resize) on real photos', () => {
  it('every face, margin and size, reductions and enlargements, byte for byte', async () => {
    expect(refs.images.length).toBe(6);
    let n = 0;
    for (const r of refs.images) {
      const img = await decodeImage(join(demo, r.name.slice('face-api/demo/'.length)));
      expect(sha256(img.data), `${r.name}: vlfer decodes other bytes than Pillow`).toBe(r.pillowRgbSha256);
      for (const c of r.crops) {
        const [x, y, width, height] = boxes.get(r.name)![c.face]!;
        const crop = cropFace(
          img,
          { x: x!, y: y!, width: width!, height: height! },
          { margin: c.margin, size: c.size },
        );
        expect([crop.width, crop.height]).toEqual([c.size, c.size]);
        expect(sha256(crop.data), `${r.name} face ${c.face}, margin ${c.margin}, ${c.size} px`).toBe(c.sha256);
        n++;
      }
    }
    expect(n).toBe(264);
  });
});
