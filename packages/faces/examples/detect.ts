// From the repo root: pnpm example packages/faces/examples/detect.ts  (reads ../shared/assets/face-detectors)
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { alignFace, drawFaces } from '@vlfer/faces';
import { FaceDetector, writePng } from '@vlfer/faces/node';
import { decodeImage } from '@vlfer/image/node';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository

const photo = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
  'demo',
  'sample1.jpg',
);
const detector = await FaceDetector.load('yunet-s', { modelDir: `${shared}/assets/face-detectors` }); // checks the file's SHA-256
const image = await decodeImage(photo); // Pillow-exact RGB
const faces = await detector.detect(image); // boxes and 5 landmarks in image pixels, best first
console.log(`${faces.length} faces in sample1.jpg (${image.width}x${image.height})`);
for (const f of faces)
  console.log(
    `score ${f.score.toFixed(3)} box (${f.box.x.toFixed(0)}, ${f.box.y.toFixed(0)}) ${f.box.width.toFixed(0)}x${f.box.height.toFixed(0)}, right eye at (${f.landmarks![0]!.map((v) => v.toFixed(0)).join(', ')})`,
  );
await writePng('/tmp/sample1-faces.png', drawFaces(image, faces)); // boxes green, landmarks red
const aligned = alignFace(image, faces[0]!.landmarks!, 224); // the five points onto the ArcFace template
await writePng('/tmp/sample1-face0.png', aligned.image);
console.log('wrote /tmp/sample1-faces.png and /tmp/sample1-face0.png');
await detector.dispose();
