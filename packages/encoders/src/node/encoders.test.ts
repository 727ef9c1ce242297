import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { BASIC_7 } from '@vlfer/datasets';
import { loadReferences, maxAbsDiff, referencePixels, sharedPath, copyWritable } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildZeroShotClassifier } from '../index.js';
import {
  configureModels,
  decodeVideo,
  defaultFfmpegPath,
  encodeImages,
  loadClip,
  loadClipTokenizer,
  preprocessImages,
  sampleClipFrames,
  type ClipModel,
} from './index.js';
import { videoOutputSize } from './video.js';
import { tensor, type Tensor2D, type Tensor4D } from '@vlfer/core';
import { FeatureCache } from '@vlfer/core/node';
import { expClipPrompts } from '@vlfer/llm-knowledge';

const ref = loadReferences();
const tinyDir = sharedPath('fixtures', 'tiny-clip');
let clip: ClipModel;
beforeAll(async () => {
  clip = await loadClip({ model: tinyDir });
});
const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-enc-'));

describe('parity with PyTorch on tiny-clip', () => {
  it('tokenises the reference prompts to identical ids', () => {
    const t = clip.tokenize(ref.text.prompts);
    expect(t.dims).toEqual([3, 77]);
    expect(t.ids).toEqual(ref.text.input_ids.flat());
  });
  it('text_embeds within 1e-4', async () => {
    const e = await clip.encodeTexts(ref.text.prompts);
    expect(e.dims).toEqual([3, 24]);
    expect(maxAbsDiff(e.data, ref.text.text_embeds.flat())).toBeLessThan(1e-4);
  });
  it('image_embeds from pixel_values.f32 within 1e-4', async () => {
    const pv = referencePixels();
    const e = await clip.encodePixels(pv);
    expect(maxAbsDiff(e.data, ref.vision.image_embeds.flat())).toBeLessThan(1e-4);
    await expect(clip.encodePixels({ ...pv, dims: [2, 3, 112, 448] } as Tensor4D)).rejects.toThrow(
      /expected shape \[\*, 3, 224, 224\]/,
    );
  });
  it("a local directory's tokenizer is read from it, never the Hub: missing or unreadable, tokenizer.json is named", async () => {
    const before = configureModels({}).allowRemoteModels;
    configureModels({ allowRemoteModels: true }); // even then: a directory is not a Hub id
    try {
      const d = tmp();
      for (const f of ['tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'])
        copyWritable(join(tinyDir, f), join(d, f));
      await expect(loadClipTokenizer(d)).rejects.toThrow(
        new RegExp(`${d}/tokenizer\\.json: not found: the CLIP tokenizer is read from here`),
      );
      writeFileSync(join(d, 'tokenizer.json'), 'xx\n');
      await expect(loadClipTokenizer(d)).rejects.toThrow(
        new RegExp(
          `${d}/tokenizer\\.json: not a readable tokenizer \\(with its tokenizer_config\\.json\\): Unexpected token`,
        ),
      );
      copyWritable(join(tinyDir, 'tokenizer.json'), join(d, 'tokenizer.json'));
      expect((await loadClipTokenizer(d))(['a happy face']).dims).toEqual([1, 77]);
      // a Hub id that cannot be fetched (here a host that refuses) says what it fetched and what to give instead
      const host = configureModels({}).remoteHost;
      configureModels({ remoteHost: 'http://127.0.0.1:9/' });
      try {
        await expect(loadClipTokenizer('no-such/tokenizer', { remoteHint: 'give tokenizer' })).rejects.toThrow(
          /^cannot fetch the CLIP tokenizer 'no-such\/tokenizer' from the Hugging Face Hub \(.+\); give tokenizer$/,
        );
      } finally {
        configureModels({ remoteHost: host });
      }
    } finally {
      configureModels({ allowRemoteModels: before });
    }
  });
  it('reports a missing model directory layout clearly', async () => {
    const d = tmp();
    writeFileSync(join(d, 'config.json'), '{}');
    await expect(loadClip({ model: d })).rejects.toThrow(
      /holds neither ONNX graphs \(config\.json, preprocessor_config\.json, tokenizer\.json.*onnx\/vision_model\.onnx.*nor Hugging Face weights \(config\.json \+ model\.safetensors\)/,
    );
    const before = configureModels({}).allowRemoteModels;
    configureModels({ allowRemoteModels: false });
    try {
      await expect(loadClip({ model: 'Xenova/clip-vit-base-patch32' })).rejects.toThrow(
        /Argument 'model' passed to 'loadClip': 'Xenova\/clip-vit-base-patch32' is not a local directory \(nor one under the local model path .*\) and remote models are disabled\. Provide a directory holding config\.json.*transformers\.js layout.*OpenAI \.pt checkpoint, or call configureModels/,
      );
    } finally {
      configureModels({ allowRemoteModels: before });
    }
    await expect(loadClip({ model: tinyDir, towers: ['text'], checksums: { 'config.json': '00' } })).rejects.toThrow(
      /Checksum mismatch/,
    );
  });
});

describe('preprocessing', () => {
  const w = 224,
    h = 224;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
  it('exp-clip mode on a 224×224 image is exactly pixel/255, CHW', async () => {
    const png = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
    const pv = await preprocessImages([new Uint8Array(png)], 'exp-clip', clip.preprocessor);
    expect(pv.dims).toEqual([1, 3, 224, 224]);
    const p = 5 * w + 7;
    for (let c = 0; c < 3; c++) expect(pv.data[c * w * h + p]).toBe(Math.fround(rgb[3 * p + c]! / 255));
  });
  it('clip mode on a 224×224 image is exactly (pixel/255 − mean)/std', async () => {
    const pv = await preprocessImages([{ rgb, width: w, height: h }], 'clip', clip.preprocessor);
    const { mean, std } = clip.preprocessor;
    let m = 0;
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < w * h; p++)
        m = Math.max(m, Math.abs(pv.data[c * w * h + p]! - (rgb[3 * p + c]! / 255 - mean[c]!) / std[c]!));
    expect(m).toBeLessThan(1e-6);
  });
  it('clip mode resizes the shortest side then centre-crops; grey images become 3 equal channels', async () => {
    const greyPng = await sharp(
      new Uint8Array(48 * 48).map((_, i) => i % 251),
      { raw: { width: 48, height: 48, channels: 1 } },
    )
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(greyPng).metadata()).channels).toBe(1);
    const pv = await preprocessImages([new Uint8Array(greyPng)], 'exp-clip', clip.preprocessor);
    const plane = 224 * 224;
    expect(maxAbsDiff(pv.data.subarray(0, plane), pv.data.subarray(plane, 2 * plane))).toBe(0);
    // a 448×224 image: the centre 224 columns survive the crop
    const wide = new Uint8Array(448 * 224 * 3);
    for (let y = 0; y < 224; y++)
      for (let x = 0; x < 448; x++) wide.fill(x >= 112 && x < 336 ? 200 : 10, 3 * (y * 448 + x), 3 * (y * 448 + x) + 3);
    const c = await preprocessImages([{ rgb: wide, width: 448, height: 224 }], 'clip', clip.preprocessor);
    const v = (200 / 255 - clip.preprocessor.mean[0]) / clip.preprocessor.std[0];
    expect(Math.abs(c.data[100 * 224 + 112]! - v)).toBeLessThan(1e-5);
    await expect(preprocessImages([join(tmp(), 'missing.jpg')], 'clip')).rejects.toThrow(
      /missing\.jpg: cannot decode image/,
    );
  });
});

describe('encodeImages with a feature cache', () => {
  it('serves a rerun from the cache and resumes after an interrupt', async () => {
    const dir = tmp();
    const files: string[] = [];
    for (let i = 0; i < 5; i++) {
      const f = join(dir, `${i}.png`);
      writeFileSync(
        f,
        await sharp({
          create: { width: 40 + i, height: 30, channels: 3, background: { r: 40 * i, g: 100, b: 200 - 30 * i } },
        })
          .png()
          .toBuffer(),
      );
      files.push(f);
    }
    let encoded = 0;
    let failAfter = Infinity;
    const counting = {
      ...clip,
      embeddingDim: clip.embeddingDim,
      preprocessor: clip.preprocessor,
      async encodePixels(p: Tensor4D): Promise<Tensor2D> {
        if (encoded >= failAfter) throw new Error('interrupted');
        encoded += p.dims[0];
        return clip.encodePixels(p);
      },
    };
    const full = (await encodeImages({ model: counting, items: files, mode: 'clip', batchSize: 2 })).features;
    const cache = new FeatureCache({
      dir: join(dir, 'cache'),
      namespace: { model: 'tiny', dtype: 'fp32', preprocess: 'clip' },
    });
    encoded = 0;
    failAfter = 2;
    await expect(encodeImages({ model: counting, items: files, mode: 'clip', batchSize: 2, cache })).rejects.toThrow(
      /interrupted/,
    );
    expect(encoded).toBe(2);
    encoded = 0;
    failAfter = Infinity;
    const progress: number[] = [];
    const resumed = await encodeImages({
      model: counting,
      items: files,
      mode: 'clip',
      batchSize: 2,
      cache,
      onProgress: (e) => progress.push(e.done),
    });
    expect(encoded).toBe(3);
    expect(progress[0]).toBe(2);
    expect([resumed.cached, resumed.encoded]).toEqual([2, 3]);
    expect(maxAbsDiff(resumed.features.data, full.data)).toBe(0);
    encoded = 0;
    const again = await encodeImages({
      model: counting,
      items: files.map((path) => ({ path, label: 0 })),
      mode: 'clip',
      batchSize: 2,
      cache,
    });
    expect(encoded).toBe(0);
    expect([again.cached, again.encoded]).toEqual([5, 0]);
    const other = new FeatureCache({
      dir: join(dir, 'cache'),
      namespace: { model: 'tiny', dtype: 'fp32', preprocess: 'exp-clip' },
    });
    expect(other.root).not.toBe(cache.root);
  });
});

describe('zero-shot classifier', () => {
  it('averages logits over each class prompt (class-major) and matches a direct computation', async () => {
    const prompts = expClipPrompts('expression_ensemble_five', BASIC_7).prompts;
    const zs = await buildZeroShotClassifier({ model: clip, classNames: BASIC_7.names, prompts });
    expect(zs.textFeatures.dims).toEqual([35, 24]);
    const img = tensor<'R2'>(
      Float32Array.from({ length: 2 * 24 }, (_, i) => Math.sin(i)),
      [2, 24],
    );
    const logits = await zs.classify(img);
    expect(logits.dims).toEqual([2, 7]);
    // direct: normalise, 100·cos with every prompt, mean over the 5 prompts of class 1
    const t = await clip.encodeTexts(prompts[1]!);
    const norm = (v: Float32Array) => {
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const a = norm(img.data.slice(24, 48));
    let s = 0;
    for (let p = 0; p < 5; p++) {
      const b = norm(t.data.slice(p * 24, (p + 1) * 24));
      s += 100 * a.reduce((acc, x, k) => acc + x * b[k]!, 0);
    }
    expect(Math.abs(logits.data[7 + 1]! - s / 5)).toBeLessThan(1e-3);
    const emb = await buildZeroShotClassifier({
      model: clip,
      classNames: BASIC_7.names,
      prompts,
      ensemble: 'embeddings',
    });
    expect(emb.textFeatures.dims).toEqual([7, 24]);
  });
  it('applies a projection to both sides and pools video frames before normalising', async () => {
    const W = new Float32Array(24 * 8).map((_, i) => Math.cos(i * 0.7));
    const projection = {
      inputDim: 24,
      outputDim: 8,
      project(x: Tensor2D): Tensor2D {
        const out = new Float32Array(x.dims[0] * 8);
        for (let r = 0; r < x.dims[0]; r++)
          for (let o = 0; o < 8; o++) {
            let s = 0;
            for (let k = 0; k < 24; k++) s += W[o * 24 + k]! * x.data[r * 24 + k]!;
            out[r * 8 + o] = s;
          }
        return { dtype: 'float32', data: out, dims: [x.dims[0], 8] };
      },
    };
    const zs = await buildZeroShotClassifier({
      model: clip,
      classNames: BASIC_7.names,
      prompts: { templates: ['{}.'] },
      projection,
    });
    expect(zs.textFeatures.dims).toEqual([7, 8]);
    const frames = tensor<'R2'>(
      Float32Array.from({ length: 4 * 24 }, (_, i) => Math.sin(i * 0.3)),
      [4, 24],
    );
    const byClip = await zs.classifyClips(frames, 2);
    expect(byClip.dims).toEqual([2, 7]);
    // mean of projected frames == projection of the mean frame (linear), so classify(mean frame) must agree
    const meanFrame = tensor<'R2'>(
      Float32Array.from({ length: 24 }, (_, k) => (frames.data[k]! + frames.data[24 + k]!) / 2),
      [1, 24],
    );
    expect(maxAbsDiff((await zs.classify(meanFrame)).data, byClip.data.subarray(0, 7))).toBeLessThan(1e-3);
    // the caller's argument is named (it was meanOfRowGroups' 'groupSize'), and a NaN feature is refused
    await expect(zs.classifyClips(frames, 0)).rejects.toThrow(/'framesPerClip'.*classifyClips.*got 0/);
    await expect(zs.classifyClips(frames, 3)).rejects.toThrow(/'frameFeatures'.*4 rows, not a whole number of 3-frame/);
    const holed = tensor<'R2'>(
      Float32Array.from(frames.data, (v, i) => (i === 30 ? NaN : v)),
      [4, 24],
    );
    await expect(zs.classify(holed)).rejects.toThrow(/'imageFeatures'.*NaN/);
    await expect(zs.classifyClips(holed, 2)).rejects.toThrow(/'frameFeatures'.*NaN/);
    await expect(
      buildZeroShotClassifier({
        model: clip,
        classNames: BASIC_7.names,
        prompts: { templates: ['{}.'] },
        projection: { ...projection, inputDim: 12 },
      }),
    ).rejects.toThrow(/input dim 12 does not match the encoder's 24/);
  });
});

describe('video frames', () => {
  it('samples 16 segment centres from a frame directory', async () => {
    const d = join(tmp(), 'clip');
    mkdirSync(d);
    for (let i = 0; i < 40; i++) writeFileSync(join(d, `${String(i).padStart(3, '0')}.jpg`), '');
    const c = await sampleClipFrames({ frameDir: d });
    expect(c.indices).toEqual([1, 3, 6, 8, 11, 13, 16, 18, 21, 23, 26, 28, 31, 33, 36, 38]);
    expect(c.items[0]).toBe(join(d, '001.jpg'));
  });
  it('decodes a video file with the bundled ffmpeg and keys frames for the cache', async () => {
    const file = join(tmp(), 'clip.avi');
    execFileSync(defaultFfmpegPath(), [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=64x48:rate=10',
      '-t',
      '2',
      '-c:v',
      'mjpeg',
      file,
    ]);
    const v = await decodeVideo(file);
    expect([v.width, v.height, v.frames.length]).toEqual([64, 48, 20]);
    const c = await sampleClipFrames({ videoFile: file }, { numSegments: 8 });
    expect(c.indices).toEqual([1, 3, 6, 8, 11, 13, 16, 18]);
    const feats = await encodeImages({ model: clip, items: c.items, mode: 'exp-clip' });
    expect(feats.features.dims).toEqual([8, 24]);
    await expect(decodeVideo(join(tmp(), 'none.mp4'))).rejects.toThrow(/none\.mp4/);
  });
  it('video files as a viewer sees them: upright, the largest stream, each frame once; damage said', async () => {
    const d = tmp();
    const ff = (...args: string[]) =>
      execFileSync(defaultFfmpegPath(), ['-hide_banner', '-loglevel', 'error', ...args]);
    const src = (size: string, rate = 10) => ['-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${rate}`];
    const raw = (file: string, ...vf: string[]) =>
      ff('-i', file, ...vf, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-vsync', 'passthrough', 'pipe:1');
    const frames = (v: { frames: Uint8Array[] }) => Buffer.concat(v.frames);
    // rotation metadata: the frames were read as 64 wide while ffmpeg wrote them 48 wide (stripes)
    ff(...src('64x48'), '-t', '1', '-c:v', 'mpeg4', '-q:v', '2', join(d, 'flat.mp4'));
    ff('-i', join(d, 'flat.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', join(d, 'portrait.mp4'));
    const portrait = await decodeVideo(join(d, 'portrait.mp4'));
    expect([portrait.width, portrait.height, portrait.frames.length]).toEqual([48, 64, 10]);
    expect(frames(portrait).equals(raw(join(d, 'flat.mp4'), '-vf', 'transpose=cclock'))).toBe(true);
    // two video streams: the size came from the first, the frames from ffmpeg's pick (which differs between its
    // versions: 4.1 the largest, 5.1 the first); the first is taken, whatever the version
    ff(...src('64x48'), ...src('32x24'), '-t', '1', '-map', '0', '-map', '1', '-c:v', 'mjpeg', join(d, 'two.mkv'));
    const log: string[] = [];
    const two = await decodeVideo(join(d, 'two.mkv'), { log: (l) => log.push(l) });
    expect([two.width, two.height, two.frames.length]).toEqual([64, 48, 10]);
    expect(log).toEqual([`${join(d, 'two.mkv')} has 2 video streams; decoded the first, stream #0:0`]);
    ff(...src('32x24'), ...src('64x48'), '-t', '1', '-map', '0', '-map', '1', '-c:v', 'mjpeg', join(d, 'small.mkv'));
    const small = await decodeVideo(join(d, 'small.mkv'));
    expect([small.width, small.height, small.frames.length]).toEqual([32, 24, 10]);
    // a cover picture is not a video stream (ffmpeg 5.1's log of an mp4 with one; 4.1 does not mark it)
    const cover = [
      "[info] Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'cover.mp4':",
      '[info]   Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 64x48 [SAR 1:1 DAR 4:3], 12 kb/s, 25 fps, 25 tbr, 12800 tbn (default)',
      '[info]   Stream #0:1[0x0]: Video: png, rgb24(pc), 128x128 [SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)',
      '[info] Stream mapping:',
      '[info]   Stream #0:0 -> #0:0 (h264 (native) -> rawvideo (native))',
      "[info] Output #0, rawvideo, to 'pipe:1':",
      '[info]   Stream #0:0(und): Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, gbr/unknown/unknown, progressive), 64x48 [SAR 1:1 DAR 4:3], q=2-31, 1843 kb/s, 25 fps, 25 tbn (default)',
    ].join('\n');
    expect(videoOutputSize(cover, 'cover.mp4')).toEqual({
      width: 64,
      height: 48,
      videoStreams: 1,
      mapped: 'stream #0:0',
    });
    // variable frame rate (5 frames, then 5 frames a second apart): rawvideo's constant rate repeated frames
    const retimed = "setpts='if(lt(N,5),N/10,N-4)/TB'";
    ff('-t', '1', ...src('32x24'), '-vf', retimed, '-vsync', 'vfr', '-c:v', 'mjpeg', join(d, 'vfr.mkv'));
    const vfr = await decodeVideo(join(d, 'vfr.mkv'));
    expect(vfr.frames.length).toBe(10);
    expect(new Set(vfr.frames.map((f) => Buffer.from(f).toString('base64'))).size).toBe(10);
    // a damaged file: ffmpeg decodes what it can and exits 0; the frames lost are said
    ff(...src('64x48'), '-t', '2', '-c:v', 'mjpeg', join(d, 'clip.avi'));
    const bytes = readFileSync(join(d, 'clip.avi'));
    bytes.fill(0xc7, bytes.length >> 1, (bytes.length >> 1) + 4000);
    writeFileSync(join(d, 'damaged.avi'), bytes);
    const warned: string[] = [];
    const damaged = await decodeVideo(join(d, 'damaged.avi'), { log: (l) => warned.push(l) });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(
      new RegExp(
        `^${join(d, 'damaged.avi')}: ffmpeg reported \\d+ decoding error\\(s\\) \\(.+\\); ${damaged.frames.length} frames were decoded`,
      ),
    );
    // an audio-only file and an aborted decode name the file
    ff('-f', 'lavfi', '-i', 'sine=duration=1', join(d, 'audio.m4a'));
    await expect(decodeVideo(join(d, 'audio.m4a'))).rejects.toThrow(/audio\.m4a: has no video stream/);
    await expect(decodeVideo(join(d, 'clip.avi'), { signal: AbortSignal.abort() })).rejects.toThrow(
      `ffmpeg on ${join(d, 'clip.avi')}`,
    );
  });
});
