import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import { decodeImage } from '@vlfer/image/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashBytes } from '@vlfer/core/node';
import { InvalidArgumentError } from '@vlfer/core';
import { CROP_VERSION, DETECTOR_RESIZE, iou } from '../index.js';
import {
  createFaceCropper,
  FaceCropper,
  FaceDetector,
  FacesOptionsSchema,
  cropFileKey,
  type FaceCropSettings,
} from './index.js';

const require = createRequire(import.meta.url);
const modelDir = sharedPath('assets', 'face-detectors');
const demo = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
const photos = [1, 2, 3, 4, 5, 6].map((i) => join(demo, `sample${i}.jpg`));
const work = mkdtempSync(join(tmpdir(), 'vlfer-faces-'));
let yunet: FaceDetector;

beforeAll(async () => {
  yunet = await FaceDetector.load('yunet-s', { modelDir });
});
afterAll(async () => {
  await yunet.dispose();
});

/** An uncompressed 24-bit BMP of one grey, bottom-up rows padded to 4 bytes. */
function greyBmp(width: number, height: number): Buffer {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const b = Buffer.alloc(54 + stride * height, 0x5a);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeUInt32LE(width, 18);
  b.writeUInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.fill(0, 30, 54);
  return b;
}

describe('detection on real photos', () => {
  it("YuNet agrees with face-api.js's SSD-MobileNet on @vladmandic/face-api's six demo photos (IoU ≥ 0.5 for every face both find)", async () => {
    const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
    await faceapi.tf.setBackend('wasm');
    await faceapi.tf.ready();
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(
      join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model'),
    );
    const lines: string[] = [];
    let both = 0,
      ssdOnly = 0,
      yunetOnly = 0;
    for (const p of photos) {
      const { data, info } = await sharp(p).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const input = faceapi.tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32');
      const ssd = (
        (await faceapi.detectAllFaces(input, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 }))) as {
          box: { x: number; y: number; width: number; height: number };
        }[]
      ).map((d) => ({ x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }));
      input.dispose();
      const ours = await yunet.detect(await decodeImage(p));
      // greedy one-to-one matching by IoU; a pair is "found by both" when they overlap at all
      const used = new Set<number>();
      const ious: number[] = [];
      for (const b of ssd) {
        let best = -1,
          bestIou = 0;
        ours.forEach((f, j) => {
          const o = iou(b, f.box);
          if (!used.has(j) && o > bestIou) {
            bestIou = o;
            best = j;
          }
        });
        if (best >= 0) {
          used.add(best);
          ious.push(bestIou);
        } else ssdOnly++;
      }
      both += ious.length;
      yunetOnly += ours.length - used.size;
      for (const o of ious) expect(o).toBeGreaterThanOrEqual(0.5);
      lines.push(
        `${p.split('/').pop()} (${info.width}x${info.height}): SSD ${ssd.length}, YuNet ${ours.length}, matched IoU ${ious.map((o) => o.toFixed(2)).join(' ')}`,
      );
    }
    console.log(`${lines.join('\n')}\nfound by both ${both}, SSD only ${ssdOnly}, YuNet only ${yunetOnly}`);
    expect(both).toBeGreaterThanOrEqual(20); // the six photos hold 22 faces SSD finds
    expect(ssdOnly).toBe(0);
  }, 120_000);
  it('YuNet-n (fixed 320×320, letterboxed) and UltraFace find the same faces as YuNet-s on a demo photo', async () => {
    const img = await decodeImage(photos[4]!);
    const ref = await yunet.detect(img);
    for (const id of ['yunet-n', 'ultraface']) {
      const d = await FaceDetector.load(id, { modelDir });
      const found = await d.detect(img);
      expect(found.length, id).toBe(ref.length);
      for (const f of found) expect(Math.max(...ref.map((r) => iou(r.box, f.box))), id).toBeGreaterThan(0.5);
      expect(found.every((f) => (id === 'ultraface' ? f.landmarks === null : f.landmarks?.length === 5))).toBe(true);
      await d.dispose();
    }
  }, 60_000);
});

describe('bad input', () => {
  it('no face, a 1×1 image and a 20000-pixel-wide image give no faces, not errors', async () => {
    expect(
      await yunet.detect({ data: new Uint8Array(640 * 480 * 3).fill(128), width: 640, height: 480, channels: 3 }),
    ).toEqual([]);
    expect(await yunet.detect({ data: new Uint8Array(3).fill(200), width: 1, height: 1, channels: 3 })).toEqual([]);
    expect(await yunet.detect({ data: new Uint8Array(20000 * 30), width: 20000, height: 30, channels: 1 })).toEqual([]);
    await expect(yunet.detect({ data: new Uint8Array(0), width: 0, height: 5, channels: 1 })).rejects.toThrow(
      /has no pixels \(0x5\)/,
    );
  });
  it('the architecture comes from the model outputs, not the file name', async () => {
    const dir = join(work, 'renamed');
    mkdirSync(dir, { recursive: true });
    copyWritable(join(modelDir, 'yunet_n_320_320.onnx'), join(dir, 'custom.onnx'));
    copyWritable(join(modelDir, 'version-RFB-320.onnx'), join(dir, 'yunet-looking-name.onnx'));
    expect((await FaceDetector.load(join(dir, 'custom.onnx'))).kind).toBe('yunet');
    expect((await FaceDetector.load(join(dir, 'yunet-looking-name.onnx'))).kind).toBe('ultraface');
    await expect(FaceDetector.load(sharedPath('fixtures', 'tiny-clip', 'onnx', 'vision_model.onnx'))).rejects.toThrow(
      /is not a YuNet \(outputs cls_8 … kps_32\) or UltraFace \(outputs scores, boxes\) model; its outputs are/,
    );
  });
  it('unknown models, a missing directory and a changed file are named', async () => {
    await expect(FaceDetector.load('retinaface', { modelDir })).rejects.toThrow(
      /'retinaface' is neither a known detector \(yunet-s, yunet-n, ultraface\) nor an existing \.onnx file/,
    );
    await expect(FaceDetector.load('yunet-s', { modelDir: join(work, 'none') })).rejects.toThrow(
      /yunet_s_dynamic\.onnx does not exist; download yunet_s_dynamic\.onnx from .*SHA-256 daede240/,
    );
    const dir = join(work, 'models');
    mkdirSync(dir, { recursive: true });
    copyWritable(join(modelDir, 'yunet_n_320_320.onnx'), join(dir, 'yunet_n_320_320.onnx'));
    const b = readFileSync(join(dir, 'yunet_n_320_320.onnx'));
    b[b.length - 1]! ^= 1;
    writeFileSync(join(dir, 'yunet_n_320_320.onnx'), b);
    await expect(FaceDetector.load('yunet-n', { modelDir: dir })).rejects.toThrow(
      /SHA-256 [0-9a-f]{64}, expected 81dbde15.*the yunet-n file vlfer was tested with/,
    );
    // a file given by path that is no ONNX model (garbage, empty): named, with what was expected, not ONNX Runtime's text
    writeFileSync(join(dir, 'garbage.onnx'), 'garbage\n');
    writeFileSync(join(dir, 'empty.onnx'), '');
    for (const [name, why] of [
      ['garbage.onnx', 'not a protobuf ModelProto'],
      ['empty.onnx', 'it has no graph'],
    ] as const)
      await expect(FaceDetector.load(join(dir, name))).rejects.toThrow(
        new RegExp(
          `'model' .*${name} is not a valid ONNX model \\(${why}\\); expected a face detector: yunet-s, yunet-n, ultraface, or a YuNet or UltraFace \\.onnx file`,
        ),
      );
  });
  it('images without a face follow the policy; a corrupt frame in a clip is named', async () => {
    const blank = join(work, 'blank.png');
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 90, g: 90, b: 90 } } })
      .png()
      .toFile(blank);
    const skip = new FaceCropper(yunet, { align: false }, join(work, 'cache-policy'));
    expect(await skip.imageCrops(blank)).toEqual([]);
    expect(skip.counts).toMatchObject({ images: 1, zero: 1, skipped: 1 });
    expect(
      await new FaceCropper(yunet, { align: false, noFace: 'full' }, join(work, 'cache-policy')).imageCrops(blank),
    ).toEqual([blank]);
    await expect(
      new FaceCropper(yunet, { align: false, noFace: 'fail' }, join(work, 'cache-policy')).imageCrops(blank),
    ).rejects.toThrow(/blank\.png.*no face found by yunet-s/);
    // with 'all', a photo used whole is no face: `face` null, so predictions name it by the photo alone
    const all = new FaceCropper(yunet, { align: false, selection: 'all', noFace: 'full' }, join(work, 'cache-policy'));
    const items = await all.cropImages([{ path: blank }, { path: photos[1]! }]);
    expect(items.map((x) => [x.source === blank, x.face])).toEqual([
      [true, null],
      ...items.slice(1).map((_, i) => [false, i]),
    ]);
    expect(items.length).toBeGreaterThan(2);
    // a BMP (libvips reads none: its size comes from its own header), and a file of no image format named
    const bmp = join(work, 'blank.bmp');
    writeFileSync(bmp, greyBmp(64, 48));
    expect(await all.imageCrops(bmp)).toEqual([bmp]);
    const text = join(work, 'notes.png');
    writeFileSync(text, 'not an image at all');
    await expect(all.imageCrops(text)).rejects.toThrow(/notes\.png/);
    const bad = join(work, 'frame_0003.jpg');
    writeFileSync(bad, 'not a jpeg');
    await expect(skip.clipCrops([photos[0]!, bad], 'clip-1')).rejects.toThrow(/frame_0003\.jpg/);
    expect(() => new FaceCropper(yunet, { align: false, selection: 'biggest' as never }, work)).toThrow(
      /selection.*'largest', 'central', 'all'/,
    );
  });
});

describe('the crop cache', () => {
  it("names a clip frame's crop by the face it follows: the same frame in two clips following two faces gets two crops", async () => {
    // a frame followed from another face in another clip was served that clip's crop (same frame, same place)
    const s = photos[0]!;
    const { width, height } = (await sharp(s).metadata()) as { width: number; height: number };
    const faces = (await yunet.detect(await decodeImage(s))).sort((a, b) => a.box.x - b.box.x);
    expect(faces.length).toBeGreaterThan(1);
    /** The photo with all but one face blacked out (its box with a margin of half a box). */
    const only = async (i: number) => {
      const { x, y, width: w, height: h } = faces[i]!.box;
      const left = Math.max(0, Math.round(x - w / 2));
      const top = Math.max(0, Math.round(y - h / 2));
      const box = {
        width: Math.min(width - left, Math.round(2 * w)),
        height: Math.min(height - top, Math.round(2 * h)),
      };
      const part = await sharp(s)
        .extract({ left, top, ...box })
        .toBuffer();
      const file = join(work, `only-${i}.png`);
      await sharp({ create: { width, height, channels: 3, background: '#000' } })
        .composite([{ input: part, left, top }])
        .png()
        .toFile(file);
      return file;
    };
    const [a, b] = [await only(0), await only(faces.length - 1)];
    const cache = join(work, 'cache-followed');
    const cropper = new FaceCropper(yunet, { align: false, size: 64 }, cache);
    const first = await cropper.clipCrops([a, s], 'clip-a');
    const second = await cropper.clipCrops([b, s], 'clip-b');
    expect(second[1]).not.toBe(first[1]);
    // what a cache that never saw clip-a cuts for clip-b
    const alone = await new FaceCropper(yunet, { align: false, size: 64 }, join(work, 'cache-alone')).clipCrops(
      [b, s],
      'clip-b',
    );
    expect(readFileSync(second[1]!).equals(readFileSync(alone[1]!))).toBe(true);
    expect(readFileSync(second[1]!).equals(readFileSync(first[1]!))).toBe(false);
  });

  it('detects once per image: a rerun reads the cache and gives the same crop files; a damaged crop is written again', async () => {
    const cache = join(work, 'cache');
    const first = new FaceCropper(yunet, { align: true, selection: 'all' }, cache);
    const items = photos.slice(0, 3).map((path, label) => ({ path, label }));
    const crops = await first.cropImages(items);
    expect(first.counts).toMatchObject({ images: 3, zero: 0, one: 0, many: 3 });
    expect(crops.length).toBe(first.counts.crops);
    expect(first.summary()).toMatch(
      /faces \(yunet-s aligned 224px, all, no face: skip\): 3 images\/clips — 0 with none, 0 with one, 3 with several; 9 crops/,
    ); // 3 + 3 + 3 faces
    const meta = await sharp(crops[0]!.path).metadata();
    expect([meta.width, meta.height]).toEqual([224, 224]);
    expect(crops[0]!.source).toBe(photos[0]);
    const again = new FaceCropper(yunet, { align: true, selection: 'all' }, cache);
    const spy = vi.spyOn(yunet, 'detect');
    writeFileSync(crops[1]!.path, 'torn');
    const second = await again.cropImages(items);
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
    expect(second.map((c) => c.path)).toEqual(crops.map((c) => c.path));
    expect((await sharp(crops[1]!.path).metadata()).width).toBe(224);
    // crops cut from cached detections equal crops cut from fresh ones, byte for byte
    const bytes = crops.map((c) => readFileSync(c.path));
    rmSync(join(cache, 'crops'), { recursive: true });
    const recut = await new FaceCropper(yunet, { align: true, selection: 'all' }, cache).cropImages(items);
    expect(recut.map((c) => readFileSync(c.path).equals(bytes[recut.indexOf(c)]!))).toEqual(crops.map(() => true));
    // other crop settings are other files; the detections are shared
    const boxes = await new FaceCropper(yunet, { align: false, size: 112 }, cache).cropImages(items);
    expect(boxes.length).toBe(3);
    expect(new Set([...boxes, ...crops].map((c) => c.path)).size).toBe(boxes.length + crops.length);
    expect(readdirSync(join(cache, 'crops')).length).toBeGreaterThan(0);
  }, 60_000);
  it('an image with as many faces as the detector keeps (topK) is counted and said; the cache keeps all topK', async () => {
    const two = await FaceDetector.load('yunet-s', { modelDir, topK: 2 });
    const many = await FaceDetector.load('yunet-s', { modelDir, topK: 60 });
    try {
      const items = photos.slice(0, 1).map((path, label) => ({ path, label })); // 3 faces
      const capped = new FaceCropper(two, { align: false, selection: 'all' }, join(work, 'cache-topk'));
      expect((await capped.cropImages(items)).length).toBe(2);
      expect(capped.counts.atLimit).toBe(1);
      expect(capped.summary()).toMatch(
        /\(1 with 2, the detector's limit: more faces may be in them, unseen; raise topK\)/,
      );
      // a detector keeping 60 faces keeps them all in its cache entries (50 were kept whatever topK was)
      const wide = new FaceCropper(many, { align: false, selection: 'all' }, join(work, 'cache-topk'));
      expect((await wide.cropImages(items)).length).toBe(3);
      expect(wide.counts.atLimit).toBe(0);
      await expect(FaceDetector.load('yunet-s', { modelDir, topK: 0 })).rejects.toThrow(
        /'topK'.*must be an integer in 1\.\.10000/,
      );
      // a NaN or 1.5 found no face, −1 every candidate up to topK; an NMS threshold of 2 failed at detect()
      for (const scoreThreshold of [NaN, 1.5, -1])
        await expect(FaceDetector.load('yunet-s', { modelDir, scoreThreshold })).rejects.toThrow(
          /'scoreThreshold' passed to 'FaceDetectorModel': expected a finite number ≥ 0 and ≤ 1/,
        );
      await expect(FaceDetector.load('yunet-s', { modelDir, nmsThreshold: 2 })).rejects.toThrow(/'nmsThreshold'/);
    } finally {
      await two.dispose();
      await many.dispose();
    }
  }, 60_000);
  it('photos with an EXIF orientation are counted and said (detected as stored, as Pillow reads them)', async () => {
    // sample1 stored turned a quarter (pixels rotated, the tag saying how to turn them back), and as it is
    const turned = join(work, 'turned.jpg');
    await sharp(photos[0]!).rotate(90).withMetadata({ orientation: 8 }).jpeg().toFile(turned);
    const cropper = new FaceCropper(yunet, { align: false, selection: 'all' }, join(work, 'cache-exif'));
    await cropper.cropImages([turned, photos[1]!, turned].map((path, label) => ({ path, label })));
    expect(cropper.counts).toMatchObject({ images: 2, exifOriented: 1 });
    expect(cropper.summary()).toMatch(
      /; 1 with an EXIF orientation that turns or mirrors them \(first: .*turned\.jpg\), not applied, as Pillow does not: detected as stored.*-auto-orient\)$/,
    );
    const plain = new FaceCropper(yunet, { align: false, selection: 'all' }, join(work, 'cache-exif'));
    await plain.cropImages([{ path: photos[1]!, label: 0 }]);
    expect(plain.counts.exifOriented).toBe(0);
    expect(plain.summary()).not.toMatch(/EXIF/);
    // a clip is counted by its first frame
    const clips = new FaceCropper(yunet, { align: false }, join(work, 'cache-exif'));
    await clips.clipCrops([turned, turned], 'turned-clip');
    await clips.clipCrops([photos[1]!, photos[1]!], 'plain-clip');
    expect(clips.counts).toMatchObject({ images: 2, exifOriented: 1 });
    expect(clips.summary()).toMatch(/\(first: turned-clip\)/);
  }, 60_000);
  it('a cached crop replaced by another valid PNG (another face, a grey square) is reported and cut again', async () => {
    const cache = join(work, 'cache-integrity');
    const items = photos.slice(0, 2).map((path, label) => ({ path, label }));
    const first = new FaceCropper(yunet, { align: false, selection: 'all' }, cache);
    const crops = await first.cropImages(items);
    expect(crops.length).toBeGreaterThan(2);
    expect(first.cacheCounts).toEqual({ detected: 2, fromCache: 0, damagedCrops: 0 });
    const bytes = crops.map((c) => readFileSync(c.path));
    // another face's crop (a valid PNG of the right size) and a grey square over two cached crops
    writeFileSync(crops[0]!.path, bytes.at(-1)!);
    writeFileSync(
      crops[1]!.path,
      await sharp({ create: { width: 224, height: 224, channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .png()
        .toBuffer(),
    );
    const notes: string[] = [];
    const again = new FaceCropper(yunet, { align: false, selection: 'all' }, cache, (l) => notes.push(l));
    const second = await again.cropImages(items);
    expect(second.map((c) => c.path)).toEqual(crops.map((c) => c.path));
    expect(second.map((c, i) => readFileSync(c.path).equals(bytes[i]!))).toEqual(crops.map(() => true));
    expect(again.cacheCounts).toEqual({ detected: 0, fromCache: 2, damagedCrops: 2 });
    expect(notes).toHaveLength(2);
    expect(notes[0]).toMatch(/face crop \S+\.png differs from its recorded SHA-256 .*; cutting it again/);
    expect(again.summary()).toMatch(/from the cache; 2 damaged crops cut again\)/);
    // the results report holds no cache counters: a warm-cache rerun reports the same as the first run
    expect(again.report()).toEqual(first.report());
    expect(Object.keys(again.report().counts)).not.toContain('fromCache');
  }, 60_000);
  it('crop files swapped together with their records, or a record of another form, are reported and cut again', async () => {
    const cache = join(work, 'cache-swapped');
    const items = photos.slice(0, 2).map((path, label) => ({ path, label }));
    const crops = await new FaceCropper(yunet, { align: false, selection: 'all' }, cache).cropImages(items);
    const [a, b, c] = crops.map((x) => x.path);
    const bytes = crops.map((x) => readFileSync(x.path));
    expect(readFileSync(`${a}.sha256`, 'utf8')).toBe(`${hashBytes(bytes[0]!)}  ${basename(a!)}\n`);
    // each pair is self-consistent (content and record agree), but under the other crop's name
    for (const ext of ['', '.sha256']) {
      renameSync(`${a}${ext}`, join(cache, 'swap'));
      renameSync(`${b}${ext}`, `${a}${ext}`);
      renameSync(join(cache, 'swap'), `${b}${ext}`);
    }
    writeFileSync(`${c}.sha256`, `${hashBytes(bytes[2]!)}\n`); // an older record
    const notes: string[] = [];
    const again = new FaceCropper(yunet, { align: false, selection: 'all' }, cache, (l) => notes.push(l));
    const second = await again.cropImages(items);
    expect(second.map((x, i) => readFileSync(x.path).equals(bytes[i]!))).toEqual(crops.map(() => true));
    expect(again.cacheCounts).toMatchObject({ damagedCrops: 3 });
    expect(notes).toEqual([
      `face crop ${a} has the record of another crop (${basename(b!)}): crop files and their records were swapped or copied; cutting it again`,
      `face crop ${b} has the record of another crop (${basename(a!)}): crop files and their records were swapped or copied; cutting it again`,
      `face crop ${c} has a record ${c}.sha256 not of the form '<sha256>  ${basename(c!)}' (damaged, or written by an older vlfer); cutting it again`,
    ]);
    // a folder where a record belongs is named (it was a raw EISDIR), and nothing in it is touched
    rmSync(`${a}.sha256`);
    mkdirSync(`${a}.sha256`);
    const third = new FaceCropper(yunet, { align: false, selection: 'all' }, cache);
    await expect(third.cropImages(items)).rejects.toThrow(
      `${a}.sha256: is not a file: a face crop's SHA-256 record belongs here (the crop cache holds only crops and their records); remove it`,
    );
  }, 60_000);
  it('a cropper’s fingerprint follows the detector, the settings and the crop version, not the cache folder', () => {
    const cut = (settings: FaceCropSettings, dir = 'fp-a') =>
      new FaceCropper(yunet, settings, join(work, dir)).fingerprint;
    expect(cut({ align: false })).toMatch(/^[0-9a-f]{64}$/);
    expect(cut({ align: false })).toBe(cut({ align: false, size: 224, margin: 0.2 }, 'fp-b'));
    // a pipeline's cropper holds its options whole (cacheDir, modelDir): where things are does not cut crops
    const fromOptions = new FaceCropper(
      yunet,
      { align: false, cacheDir: join(work, 'fp-c'), modelDir } as FaceCropSettings,
      join(work, 'fp-c'),
    );
    expect(fromOptions.fingerprint).toBe(cut({ align: false }));
    for (const other of [
      { align: true },
      { align: false, margin: 0.3 },
      { align: false, selection: 'central' as const },
    ])
      expect(cut(other)).not.toBe(cut({ align: false }));
  });
  it('crops and detections cached by an older vlfer (other warp, template or detector-input resize) are not reused', () => {
    const settings = { align: true, size: 256, margin: 0.2 };
    const now = cropFileKey('image-key', yunet.cacheKey, settings, 0);
    expect(now).toBe(cropFileKey('image-key', yunet.cacheKey, settings, 0, CROP_VERSION));
    expect(cropFileKey('image-key', yunet.cacheKey, settings, 0, 'an older warp')).not.toBe(now);
    // the detection cache's namespace and every crop name hold the detector's key, which names the input resize:
    // detections made from the previous (not OpenCV-exact) resize are not read back
    expect(JSON.parse(yunet.cacheKey).resize).toBe(DETECTOR_RESIZE);
    expect(DETECTOR_RESIZE).toBe('opencv-inter-linear-8u');
    // the name a crop had before (no version, resize 'bilinear-halfpixel-q11') is not the name it has now
    const before = JSON.stringify({ ...JSON.parse(yunet.cacheKey), resize: 'bilinear-halfpixel-q11' });
    expect(hashBytes(JSON.stringify(['image-key', before, true, 256, 0.2, 0]))).not.toBe(now);
  });
  it('follows one face through a clip (frames cut from a photo, shifted), one crop per frame', async () => {
    const frames: string[] = [];
    for (let t = 0; t < 4; t++) {
      const f = join(work, `clip/frame_${t}.png`);
      mkdirSync(dirname(f), { recursive: true });
      await sharp(photos[4]!)
        .extract({ left: 100 + 20 * t, top: 50, width: 1400, height: 1000 })
        .png()
        .toFile(f);
      frames.push(f);
    }
    const c = new FaceCropper(yunet, { align: false, selection: 'central' }, join(work, 'cache-clip'));
    const crops = await c.clipCrops(frames, 'clip');
    expect(crops).toHaveLength(4);
    expect(c.counts).toMatchObject({ images: 1, many: 1 });
  }, 60_000);
});

describe('createFaceCropper', () => {
  it("names the pipeline's faces option in the errors of the detector and the cropper", async () => {
    const saved = process.env.VLFER_FACE_MODELS;
    delete process.env.VLFER_FACE_MODELS;
    try {
      const o = (extra: object) => FacesOptionsSchema.parse({ cacheDir: join(work, 'fc'), ...extra });
      const named = async (extra: object) => {
        const e = (await createFaceCropper(o(extra)).catch((x: unknown) => x)) as InvalidArgumentError;
        expect(e).toBeInstanceOf(InvalidArgumentError);
        return [e.functionName, e.argument, e.message];
      };
      expect(await named({})).toEqual([
        'createFaceCropper',
        'faces.modelDir',
        expect.stringMatching(/^Argument 'faces\.modelDir' passed to 'createFaceCropper': is needed to find 'yunet-s'/),
      ]);
      // the file of a known detector is missing: the directory it was looked up in is what to change
      expect((await named({ modelDir: join(work, 'none') })).slice(0, 2)).toEqual([
        'createFaceCropper',
        'faces.modelDir',
      ]);
      expect((await named({ modelDir, detector: join(work, 'none.onnx') })).slice(0, 2)).toEqual([
        'createFaceCropper',
        'faces.detector',
      ]);
      process.env.VLFER_FACE_MODELS = join(work, 'none');
      expect((await named({})).slice(0, 2)).toEqual(['FaceDetector.load', 'VLFER_FACE_MODELS']);
      delete process.env.VLFER_FACE_MODELS;
      expect(await named({ modelDir, detector: 'ultraface', align: true })).toEqual([
        'createFaceCropper',
        'faces.align',
        expect.stringMatching(/needs landmarks; ultraface finds boxes only/),
      ]);
    } finally {
      if (saved !== undefined) process.env.VLFER_FACE_MODELS = saved;
    }
  });
});
