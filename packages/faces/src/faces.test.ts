import * as image from '@vlfer/image';
import { describe, expect, it } from 'vitest';
import * as faces from './index.js';
import {
  alignmentTemplate,
  detectorInput,
  FaceDetectorModel,
  applyAffine,
  cropFace,
  decodeUltraFace,
  decodeYunet,
  drawFaces,
  inputGeometry,
  faceToImage,
  iou,
  nonMaxSuppression,
  selectFaces,
  similarityTransform,
  trackFace,
  warpAffine,
  type Face,
  type Point,
  type RgbImage,
} from './index.js';

const face = (x: number, y: number, w: number, h: number, score = 0.9): Face => ({
  box: { x, y, width: w, height: h },
  score,
  landmarks: null,
});

describe('YuNet and UltraFace decoding (hand-computed raw outputs)', () => {
  // a 32×32 input: stride 8 → 4×4 cells, 16 → 2×2, 32 → 1×1
  const zeros = (n: number) => new Float32Array(n);
  const raw = () => ({
    cls_8: zeros(16),
    obj_8: zeros(16),
    bbox_8: zeros(64),
    kps_8: zeros(160),
    cls_16: zeros(4),
    obj_16: zeros(4),
    bbox_16: zeros(16),
    kps_16: zeros(40),
    cls_32: zeros(1),
    obj_32: zeros(1),
    bbox_32: zeros(4),
    kps_32: zeros(10),
  });
  it('decodes score, box and landmarks of a stride-8 cell', () => {
    const o = raw();
    const i = 1 * 4 + 2; // row 1, column 2
    o.cls_8[i] = 0.81;
    o.obj_8[i] = 1;
    o.bbox_8.set([0.5, 0.25, Math.log(2), 0], 4 * i);
    o.kps_8.set([0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1], 10 * i);
    const faces = decodeYunet(o, { width: 32, height: 32 }, 0.5);
    expect(faces).toHaveLength(1);
    const f = faces[0]!;
    expect(f.score).toBeCloseTo(0.9, 7); // √(0.81 · 1), from float32 outputs
    // centre ((2 + 0.5)·8, (1 + 0.25)·8) = (20, 10); size (2·8, 1·8) = (16, 8)
    const b = f.box; // float32 ln 2
    expect([b.x, b.y, b.width, b.height].map((v) => Math.round(v * 1e6) / 1e6)).toEqual([12, 6, 16, 8]);
    expect(f.landmarks).toEqual([
      [16, 8],
      [24, 8],
      [20, 12],
      [16, 16],
      [24, 16],
    ]);
  });
  it('clamps scores to [0, 1], drops faces below the threshold, reads the coarse strides', () => {
    const o = raw();
    o.cls_32[0] = 1.5;
    o.obj_32[0] = 0.64; // clamped: √(1 · 0.64) = 0.8
    o.cls_16[3] = 0.25;
    o.obj_16[3] = 0.25; // 0.25 < threshold
    const faces = decodeYunet(o, { width: 32, height: 32 }, 0.5);
    expect(faces).toHaveLength(1);
    expect(faces[0]!.score).toBeCloseTo(0.8, 6);
    expect(faces[0]!.box).toEqual({ x: -16, y: -16, width: 32, height: 32 }); // centre ((0 + 0)·32, (0 + 0)·32), size e⁰·32
    expect(() => decodeYunet({ ...o, kps_8: zeros(150) }, { width: 32, height: 32 }, 0.5)).toThrow(
      /kps_8 has 150 values, expected 160 for a 32x32 input/,
    );
    expect(() => decodeYunet(o, { width: 30, height: 32 }, 0.5)).toThrow(/multiples of 32/);
  });
  it('UltraFace: corner-form fractions of the input, face column of the softmax', () => {
    const faces = decodeUltraFace(
      [0.2, 0.8, 0.9, 0.1],
      [0.1, 0.2, 0.3, 0.6, 0, 0, 1, 1],
      { width: 320, height: 240 },
      0.5,
    );
    expect(faces).toEqual(
      [{ box: { x: 32, y: 48, width: 64, height: 96 }, score: 0.8, landmarks: null }].map((f) => ({
        ...f,
        box: {
          x: expect.closeTo(32, 9),
          y: expect.closeTo(48, 9),
          width: expect.closeTo(64, 9),
          height: expect.closeTo(96, 9),
        },
      })),
    );
  });
  it('NMS keeps the best of overlapping faces and every separate one', () => {
    const a = face(0, 0, 10, 10, 0.9);
    const b = face(1, 1, 10, 10, 0.95); // IoU(a, b) = 81 / 119 = 0.68
    const c = face(50, 50, 10, 10, 0.5);
    expect(iou(a.box, b.box)).toBeCloseTo(81 / 119, 12);
    expect(nonMaxSuppression([a, b, c], 0.3)).toEqual([b, c]);
    expect(nonMaxSuppression([a, b, c], 0.7)).toEqual([b, a, c]);
    expect(nonMaxSuppression([a, b, c], 0.3, 1)).toEqual([b]);
  });
  it('maps faces from a letterboxed input back to the image', () => {
    const g = inputGeometry(1920, 1080, { longSide: 640, multiple: 32 });
    expect(g).toEqual({
      inputWidth: 640,
      inputHeight: 384,
      resizedWidth: 640,
      resizedHeight: 360,
      scaleX: 1 / 3,
      scaleY: 1 / 3,
    });
    const f = faceToImage(
      {
        box: { x: 100, y: 50, width: 30, height: 40 },
        score: 1,
        landmarks: [
          [110, 60],
          [120, 60],
          [115, 70],
          [110, 80],
          [120, 80],
        ],
      },
      g,
      { width: 1920, height: 1080 },
    );
    expect(f.box.x).toBeCloseTo(300, 9);
    expect(f.box.height).toBeCloseTo(120, 9);
    expect(f.landmarks![2]![1]).toBeCloseTo(210, 9);
    expect(inputGeometry(200, 100, { width: 320, height: 320 })).toMatchObject({
      resizedWidth: 320,
      resizedHeight: 160,
    });
  });
});

describe('alignment and crops', () => {
  const template = alignmentTemplate(224);
  // landmarks = template under a known similarity (scale 1.7, rotation 20°, shift)
  const th = (20 * Math.PI) / 180;
  const known = (p: Point): Point => [
    1.7 * (Math.cos(th) * p[0] - Math.sin(th) * p[1]) + 300,
    1.7 * (Math.sin(th) * p[0] + Math.cos(th) * p[1]) + 120,
  ];
  const landmarks = template.map(known);

  it("alignmentTemplate is insightface's estimate_norm template: size/112 for multiples of 112, else the 128 layout", () => {
    const f = Math.fround;
    // float32 as insightface's arcface_dst; 224 = 2·112, 336 = 3·112, 896 = 8·112 = 7·128 (112 wins, as in insightface)
    expect(alignmentTemplate(112)[0]).toEqual([f(38.2946), f(51.6963)]);
    expect(alignmentTemplate(224)[4]).toEqual([f(f(70.7299) * 2), f(f(92.2041) * 2)]);
    expect(alignmentTemplate(896)[1]).toEqual([f(f(73.5318) * 8), f(f(51.5014) * 8)]);
    // 128, 256: scale size/128 and x + 8·scale (numpy printed [[ 92.5892 103.3926]] for the first point at 256)
    expect(alignmentTemplate(128)[0]).toEqual([f(f(38.2946) + 8), f(51.6963)]);
    expect(alignmentTemplate(256)[0]).toEqual([f(f(38.2946) * 2 + 16), f(f(51.6963) * 2)]);
    expect(alignmentTemplate(256)[0]![0]).toBeCloseTo(92.5892, 4);
    expect(alignmentTemplate(384)[2]).toEqual([f(f(f(56.0252) * 3) + 24), f(f(71.7366) * 3)]);
    // neither (insightface asserts): vlfer scales the 112 template
    expect(alignmentTemplate(160)[3]).toEqual([f(f(41.5493) * f(160 / 112)), f(f(92.3655) * f(160 / 112))]);
    expect(() => alignmentTemplate(0)).toThrow(/'size'.*must be a positive integer, got 0/);
    expect(() => alignmentTemplate(22.5)).toThrow(/got 22.5/);
  });

  it('the estimated transform puts the landmarks on the template', () => {
    const m = similarityTransform(landmarks, template);
    for (let k = 0; k < 5; k++) {
      const [x, y] = applyAffine(m, landmarks[k]!);
      expect(Math.hypot(x - template[k]![0], y - template[k]![1])).toBeLessThan(1e-9);
    }
    expect(() =>
      similarityTransform(
        [
          [1, 1],
          [1, 1],
        ],
        [
          [0, 0],
          [1, 1],
        ],
      ),
    ).toThrow(/all points coincide/);
  });
  it('warped landmarks land on the template within 0.5 px (centroids of dots drawn at the landmarks)', () => {
    const W = 800,
      H = 700;
    const img: RgbImage = { data: new Uint8Array(W * H * 3), width: W, height: H, channels: 3 };
    for (const [k, [lx, ly]] of landmarks.entries()) {
      for (let y = Math.floor(ly - 6); y <= ly + 6; y++)
        for (let x = Math.floor(lx - 6); x <= lx + 6; x++) {
          if (Math.hypot(x - lx, y - ly) <= 5) img.data[3 * (y * W + x) + (k % 3)] = 255;
        }
    }
    const out = warpAffine(img, similarityTransform(landmarks, template), 224, 224);
    for (const [k, [tx, ty]] of template.entries()) {
      let sw = 0,
        sx = 0,
        sy = 0;
      for (let y = Math.floor(ty - 8); y <= ty + 8; y++)
        for (let x = Math.floor(tx - 8); x <= tx + 8; x++) {
          const v = out.data[3 * (y * 224 + x) + (k % 3)]!;
          sw += v;
          sx += v * x;
          sy += v * y;
        }
      expect(Math.hypot(sx / sw - tx, sy / sw - ty)).toBeLessThan(0.5);
    }
  });
  it('a box crop recovers a known region (a ramp image cropped without margin keeps its values)', () => {
    const W = 64,
      H = 48;
    const img: RgbImage = { data: new Uint8Array(W * H), width: W, height: H, channels: 1 };
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img.data[y * W + x] = x + 2 * y;
    const c = cropFace(img, { x: 10, y: 5, width: 20, height: 20 }, { margin: 0, square: true });
    expect([c.width, c.height]).toEqual([20, 20]);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) expect(c.data[y * 20 + x]).toBe(10 + x + 2 * (5 + y));
    const up = cropFace(img, { x: 10, y: 5, width: 20, height: 20 }, { margin: 0.5, size: 80 });
    expect([up.width, up.height]).toEqual([80, 80]); // 40-px square, resampled ×2; the part outside the image is 0
    expect(up.data[0]).toBe(0);
  });
  it('a box crop reduced 8× averages fine detail (Pillow’s widening filter) instead of aliasing it', () => {
    const W = 400;
    const img: RgbImage = { data: new Uint8Array(W * W), width: W, height: W, channels: 1 };
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) img.data[y * W + x] = x % 3 ? 0 : 255; // 1-px lines, period 3
    const c = cropFace(img, { x: 8, y: 8, width: 384, height: 384 }, { margin: 0, size: 48 });
    // every output pixel averages ~16 source columns, a third of them white (85); a bilinear read of two neighbouring
    // columns gives 0, 127 or 128 by where it lands
    const worst = Math.max(...Array.from(c.data, (v) => Math.abs(v - 85)));
    expect(worst).toBeLessThan(6);
  });
  it('a box that is not finite, has no area, or crops more than Pillow does is refused by name', () => {
    const img: RgbImage = { data: new Uint8Array(300), width: 10, height: 10, channels: 3 };
    const box = { x: 2, y: 2, width: 4, height: 4 };
    for (const bad of [{ x: Number.NaN }, { y: Infinity }, { width: Infinity }, { width: 0 }, { height: -1 }])
      expect(() => cropFace(img, { ...box, ...bad }, { size: 8 })).toThrow(
        /'box' passed to 'cropFace': needs finite x, y and a positive finite width and height/,
      );
    expect(() => cropFace(img, { ...box, width: 0.2, height: 0.2 }, { margin: 0 })).toThrow(/'box'.*is empty/);
    expect(() => cropFace(img, { x: 0, y: 0, width: 1e5, height: 1e5 }, { size: 224 })).toThrow(
      /with its margin is 140000x140000 pixels, more than Pillow crops \(178956970 pixels: DecompressionBombError\)/,
    );
    expect(() => cropFace(img, { x: 1.7e308, y: 0, width: 1.7e308, height: 2 }, { size: 8 })).toThrow(
      /with its margin is InfinityxInfinity pixels, more than Pillow crops/,
    );
    expect(() => cropFace(img, box, { size: 1.5 })).toThrow(/'size'.*whole number of pixels ≥ 1, got 1\.5/);
  });
  it('box corners are rounded as Python’s round (halves to even), as Pillow’s Image.crop does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(faces.roundHalfEven)).toEqual([
      0, 2, 2, 0, -2, -2, 2, 3,
    ]);
    const img: RgbImage = { data: new Uint8Array(16).map((_, i) => i), width: 4, height: 4, channels: 1 };
    // x0 = 1.5 → 2, x1 = 3.5 → 4; y0 = 0.5 → 0, y1 = 2.5 → 2
    const c = cropFace(img, { x: 1.5, y: 0.5, width: 2, height: 2 }, { margin: 0 });
    expect([c.width, c.height, ...c.data]).toEqual([2, 2, 2, 3, 6, 7]);
  });
});

describe('selection, tracking, drawing', () => {
  it('picks the largest or the most central face', () => {
    const big = face(0, 0, 50, 50);
    const mid = face(80, 80, 40, 40);
    expect(selectFaces([big, mid], 'largest', { width: 200, height: 200 })).toEqual([big]);
    expect(selectFaces([big, mid], 'central', { width: 200, height: 200 })).toEqual([mid]);
    expect(selectFaces([big, mid], 'all', { width: 200, height: 200 })).toEqual([big, mid]);
    expect(() => selectFaces([big], 'biggest' as never, { width: 1, height: 1 })).toThrow(
      /expected one of 'largest', 'central', 'all', got 'biggest'/,
    );
  });
  it('follows one face by IoU through a clip; missing frames are carried, skipped or an error', () => {
    const a = (dx: number) => face(10 + dx, 10, 20, 20);
    const other = face(100, 100, 30, 30);
    const frames = [[], [a(0), other], [other, a(2)], [other], [a(4)]];
    const size = { width: 60, height: 60 }; // the 'a' face is the central one
    const carried = trackFace(frames, size, { selection: 'central', name: 'clip7' });
    expect(carried.status).toEqual(['carried', 'detected', 'detected', 'carried', 'detected']);
    expect(carried.faces.map((f) => f!.box.x)).toEqual([10, 10, 12, 12, 14]);
    expect(
      trackFace(frames, size, { missing: 'skip', selection: 'central' }).faces.map((f) => f?.box.x ?? null),
    ).toEqual([null, 10, 12, null, 14]);
    expect(() => trackFace(frames, size, { missing: 'fail', selection: 'central', name: 'clip7' })).toThrow(
      /clip7.*not found in frame 3/,
    );
    expect(() => trackFace([[], []], { width: 9, height: 9 }, { name: 'empty.mp4' })).toThrow(
      /empty\.mp4.*no face in any of its 2 frames/,
    );
    const smooth = trackFace([[a(0)], [a(4)]], { width: 200, height: 200 }, { smoothing: 0.5 });
    expect(smooth.faces[1]!.box.x).toBe(12);
  });
  it('draws boxes and landmarks', () => {
    const img: RgbImage = { data: new Uint8Array(20 * 20), width: 20, height: 20, channels: 1 };
    const out = drawFaces(
      img,
      [
        {
          box: { x: 2, y: 2, width: 10, height: 10 },
          score: 1,
          landmarks: [
            [7, 7],
            [7, 7],
            [7, 7],
            [7, 7],
            [7, 7],
          ],
        },
      ],
      { thickness: 1 },
    );
    expect(Array.from(out.data.subarray(3 * (2 * 20 + 5), 3 * (2 * 20 + 5) + 3))).toEqual([0, 255, 0]);
    expect(Array.from(out.data.subarray(3 * (7 * 20 + 7), 3 * (7 * 20 + 7) + 3))).toEqual([255, 0, 0]);
    expect(Array.from(out.data.subarray(3 * (15 * 20 + 15), 3 * (15 * 20 + 15) + 3))).toEqual([0, 0, 0]);
  });
});

describe('detector input (the same bytes on every runtime)', () => {
  it('resizeBilinear and warpAffine (moved to @vlfer/image) are re-exported, the same functions', () => {
    expect(faces.resizeBilinear).toBe(image.resizeBilinear);
    expect(faces.warpAffine).toBe(image.warpAffine);
  });

  it('detectorInput: YuNet BGR 0…255 zero-padded, UltraFace RGB (v − 127)/128 padded with −127/128', () => {
    const img = { data: new Uint8Array([255, 0, 127]), width: 1, height: 1, channels: 3 as const };
    const g = inputGeometry(1, 1, { width: 2, height: 1 });
    expect([...detectorInput(img, g, 'yunet')]).toEqual([127, 0, 0, 0, 255, 0]);
    expect([...detectorInput(img, g, 'ultraface')]).toEqual(
      [1, -127 / 128, -127 / 128, -127 / 128, 0, -127 / 128].map((v) => Math.fround(v)),
    );
  });

  it('FaceDetectorModel reads the architecture from the outputs and refuses other models', () => {
    const runtime = (outputNames: string[]) => ({
      inputNames: ['input'],
      outputNames,
      inputShape: [1, 3, 'h', 'w'],
      run: async () => ({}),
      release: async () => {},
    });
    expect(new FaceDetectorModel(runtime(['scores', 'boxes']), 'u', 'f').kind).toBe('ultraface');
    expect(() => new FaceDetectorModel(runtime(['image_embeds']), 'clip.onnx', 'f')).toThrow(
      /clip\.onnx is not a YuNet .* its outputs are image_embeds/,
    );
    expect(() => new FaceDetectorModel(runtime(['scores', 'boxes']), 'u', 'f', { kind: 'yunet' })).toThrow(
      /'yunet' was given but u has ultraface's outputs/,
    );
    expect(() => new FaceDetectorModel(runtime(['scores', 'boxes']), 'u', 'f', { longSide: 100 })).toThrow(
      /multiple of 32, got 100/,
    );
  });
});
