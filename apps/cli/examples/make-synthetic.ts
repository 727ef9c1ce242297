// Writes a small synthetic frame-directory video set (5 classes, DFER-CLIP list format) for trying `pnpm hesp`.
// Usage: pnpm example apps/cli/examples/make-synthetic.ts <out dir>
import { writeSyntheticVideoSet } from '@vlfer/test-utils';

const out = process.argv[2] ?? 'runs/hesp-synthetic-data';
const r = await writeSyntheticVideoSet(out, {
  trainClasses: [0, 1, 2],
  testClasses: [0, 1, 2, 3, 4],
  trainPerClass: 6,
  testPerClass: 3,
  trainFrames: 10,
  testFrames: 10,
  size: 48,
});
console.log(`${r.clips} clips (train ${r.train}, test ${r.test})`);
