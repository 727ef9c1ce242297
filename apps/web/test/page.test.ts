/**
 * The zero-shot FER page in a real headless browser (Debian's chromium, driven by playwright-core), against the Node
 * pipeline on the same images and model (`../shared/fixtures/tiny-clip`, YuNet-s): the page is built with Vite,
 * served by `vite preview` on 127.0.0.1, fed files through its inputs, and its probabilities must equal Node's
 * `classify` to 1e-4 — whole image (a FER2013 test image), detected + aligned faces (a face-api demo photo), and with
 * an Exp-CLIP head picked as a .safetensors file. Screenshots go to the test output directory. Needs `chromium`
 * (`apt-get install chromium`; `.ci/run` installs it); without it the test fails and says so.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { createRng } from '@vlfer/core';
import { getLabelSet } from '@vlfer/datasets';
import { classify, loadClip, type ClipModel } from '@vlfer/encoders/node';
import { decodeImage } from '@vlfer/image/node';
import { faceCrop, type RgbImage } from '@vlfer/faces';
import { FaceDetector } from '@vlfer/faces/node';
import { expClipPrompts } from '@vlfer/llm-knowledge';
import { createProjectionHead, encodeProjectionHead, type ProjectionHead } from '@vlfer/projection-head';
import { sharedPath } from '@vlfer/test-utils';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const executablePath =
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ??
  spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
const appDir = resolve(import.meta.dirname, '..');
const out = join(appDir, 'test-output');
const modelsDir = sharedPath('fixtures');
const faceModels = sharedPath('assets', 'face-detectors');
const ferImage = sharedPath('data', 'fer2013-privatetest', 'happy', 'PrivateTest_16894784.jpg');
const demoPhoto = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', 'sample2.jpg');
const labels = getLabelSet('basic-7');
const promptType = 'expression_ensemble_five' as const;
const table = Object.fromEntries(labels.names.map((n, i) => [n, expClipPrompts(promptType, labels).prompts[i]!]));

let server: PreviewServer;
let browser: Browser;
let clip: ClipModel;
let base: string;

/** Node's answer for an image: `classify` on the whole image or on each YuNet face's aligned crop. */
async function nodeScores(
  file: string,
  faces: boolean,
  projection?: ProjectionHead,
): Promise<{ label: string; score: number }[][]> {
  const img = await decodeImage(file);
  let inputs: RgbImage[] = [img];
  if (faces) {
    const detector = await FaceDetector.load('yunet-s', { modelDir: faceModels });
    inputs = (await detector.detect(img)).map((f) => faceCrop(img, f, { align: true, size: 224, margin: 0.2 }));
    await detector.dispose();
  }
  const rgb = inputs.map((c) => ({
    rgb:
      c.channels === 3 ? c.data : Uint8Array.from({ length: c.data.length * 3 }, (_, i) => c.data[Math.floor(i / 3)]!),
    width: c.width,
    height: c.height,
  }));
  return classify(clip, rgb, {
    labels: labels.names,
    prompts: table,
    mode: 'clip',
    ...(projection ? { projection } : {}),
  });
}

type PageResult = {
  state: string;
  error?: string;
  device?: string;
  runs: number;
  results?: { face: unknown; scores: { label: string; score: number }[] }[];
  timings: { modelLoaded?: number; firstResult?: number; lastRun?: number };
};

/** Wait until the page's state (`window.vlfer.state`) is one of `states`. */
function untilState(page: Page, states: readonly PageResult['state'][], timeout = 120_000) {
  return page.waitForFunction(
    (s) => s.includes((window as unknown as { vlfer: PageResult }).vlfer.state),
    [...states],
    { timeout },
  );
}

/** Wait until the page has finished `n` runs, or failed. */
function untilRuns(page: Page, n: number, timeout = 120_000) {
  return page.waitForFunction(
    (k) => {
      const v = (window as unknown as { vlfer: PageResult }).vlfer;
      return v.state === 'error' || (v.state === 'done' && v.runs >= k);
    },
    n,
    { timeout },
  );
}

function maxDiff(a: { label: string; score: number }[][], b: { label: string; score: number }[][]): number {
  expect(b.length).toBe(a.length);
  let d = 0;
  a.forEach((row, i) => {
    const other = new Map(b[i]!.map((s) => [s.label, s.score]));
    for (const s of row) d = Math.max(d, Math.abs(s.score - other.get(s.label)!));
  });
  return d;
}

beforeAll(async () => {
  expect(executablePath, 'chromium is not installed (apt-get install chromium)').toBeTruthy();
  mkdirSync(out, { recursive: true });
  process.env.VLFER_WEB_MODELS = modelsDir;
  process.env.VLFER_FACE_MODELS = faceModels;
  await build({ root: appDir, configFile: join(appDir, 'vite.config.ts'), logLevel: 'warn' });
  server = await preview({
    root: appDir,
    configFile: join(appDir, 'vite.config.ts'),
    preview: { host: '127.0.0.1', port: 0, strictPort: false },
    logLevel: 'warn',
  });
  base = server.resolvedUrls!.local[0]!;
  browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
  clip = await loadClip({ model: join(modelsDir, 'tiny-clip') });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => server?.httpServer.close(() => r()));
  await clip?.dispose();
});

describe('zero-shot FER page (tiny-clip, WASM) equals the Node pipeline', () => {
  it('whole image, faces, and an Exp-CLIP head: probabilities within 1e-4 of Node; screenshots', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
    });
    const state = () => page.evaluate(() => (window as unknown as { vlfer: PageResult }).vlfer);
    const waitRuns = async (n: number) => {
      await untilRuns(page, n);
      const s = await state();
      expect(s.error, 'the page reported an error').toBeUndefined();
      return s;
    };
    await page.goto(`${base}?model=tiny-clip&device=wasm&faces=none&labels=basic-7&prompts=${promptType}`);
    await untilState(page, ['ready', 'error']);
    expect((await state()).error).toBeUndefined();
    expect((await state()).device).toBe('wasm');

    // 1. a FER2013 test image, whole
    await page.setInputFiles('#image', ferImage);
    const whole = await waitRuns(1);
    expect(whole.results!.length).toBe(1);
    const wholeDiff = maxDiff(
      await nodeScores(ferImage, false),
      whole.results!.map((r) => r.scores),
    );
    expect(wholeDiff).toBeLessThan(1e-4);

    // 2. a face-api demo photo: YuNet-s faces, aligned
    await page.selectOption('#faces', 'detect:align');
    await page.setInputFiles('#image', demoPhoto);
    const faces = await waitRuns(3);
    const nodeFaces = await nodeScores(demoPhoto, true);
    expect(nodeFaces.length).toBeGreaterThan(1);
    expect(faces.results!.length).toBe(nodeFaces.length);
    const faceDiff = maxDiff(
      nodeFaces,
      faces.results!.map((r) => r.scores),
    );
    expect(faceDiff).toBeLessThan(1e-4);
    await page.screenshot({ path: join(out, 'page-faces.png'), fullPage: true });

    // 3. an Exp-CLIP head picked as a file
    const head = createProjectionHead({ inputDim: clip.embeddingDim, outputDim: 64, rng: createRng(3) });
    const headFile = join(mkdtempSync(join(tmpdir(), 'vlfer-web-')), 'head.safetensors');
    writeFileSync(headFile, encodeProjectionHead(head));
    await page.setInputFiles('#head', headFile);
    const withHead = await waitRuns(4);
    const headDiff = maxDiff(
      await nodeScores(demoPhoto, true, head),
      withHead.results!.map((r) => r.scores),
    );
    expect(headDiff).toBeLessThan(1e-4);
    // the head changes the answer (the comparison above is not between two unchanged runs)
    expect(
      maxDiff(
        nodeFaces,
        withHead.results!.map((r) => r.scores),
      ),
    ).toBeGreaterThan(1e-3);
    await head.dispose();

    expect(problems).toEqual([]);
    const files = (dir: string) =>
      readdirSync(join(appDir, 'dist', dir)).map((f) => readFileSync(join(appDir, 'dist', dir, f)));
    const bytes = (bufs: Buffer[]) => ({
      bytes: bufs.reduce((a, b) => a + b.length, 0),
      gzip: bufs.reduce((a, b) => a + gzipSync(b).length, 0),
    });
    const measured = {
      bundle: bytes([...files('assets'), readFileSync(join(appDir, 'dist', 'index.html'))]),
      onnxruntimeWasm: bytes(files('ort')),
      model: 'tiny-clip',
      device: whole.device,
      msToModelLoaded: Math.round(whole.timings.modelLoaded!),
      msToFirstResult: Math.round(whole.timings.firstResult!),
      msFirstRun: Math.round(whole.timings.lastRun!),
      maxAbsDiff: { wholeImage: wholeDiff, faces: faceDiff, withHead: headDiff },
    };
    writeFileSync(join(out, 'measurements.json'), `${JSON.stringify(measured, null, 2)}\n`);
    console.log(JSON.stringify(measured));
    console.log(
      `page vs Node, max |Δp|: whole image ${wholeDiff.toExponential(2)}, faces ${faceDiff.toExponential(2)}, with head ${headDiff.toExponential(2)}; first result at ${whole.timings.firstResult!.toFixed(0)} ms after navigation (model loaded at ${whole.timings.modelLoaded!.toFixed(0)} ms)`,
    );
    await page.close();
  }, 300_000);

  it("the webcam path: Chromium's fake camera frame is classified whole", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}?model=tiny-clip&device=wasm&faces=none`);
    await untilState(page, ['ready']);
    await page.click('#camera');
    await page.waitForFunction(
      () =>
        !(document.getElementById('snap') as HTMLButtonElement).disabled ||
        (window as unknown as { vlfer: PageResult }).vlfer.state === 'error',
      undefined,
      { timeout: 30_000 },
    );
    await page.click('#snap');
    await untilState(page, ['done', 'error'], 60_000);
    const s = await page.evaluate(
      () => (window as unknown as { vlfer: PageResult & { image: { width: number; height: number } } }).vlfer,
    );
    expect(s.error).toBeUndefined();
    expect(s.image).toEqual({ width: 640, height: 480 });
    expect(s.results!.length).toBe(1);
    expect(s.results![0]!.scores.reduce((a, b) => a + b.score, 0)).toBeCloseTo(1, 5);
    await page.close();
  }, 180_000);

  it('decodes as Pillow does (EXIF orientation ignored, ICC profile ignored, alpha not premultiplied); UltraFace stays quiet', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${base}?model=tiny-clip&device=wasm&faces=none&labels=basic-7&prompts=${promptType}`);
    await untilState(page, ['ready']);
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-web-'));
    // an 8-bit RGBA PNG with fully and partly transparent pixels whose colours are not black
    const rgba = Uint8Array.from({ length: 64 * 48 * 4 }, (_, i) =>
      i % 4 === 3 ? [0, 93, 255][Math.floor(i / 4) % 3]! : (i * 29 + 7) % 256,
    );
    const alpha = join(dir, 'alpha.png');
    await sharp(Buffer.from(rgba), { raw: { width: 64, height: 48, channels: 4 } })
      .png()
      .toFile(alpha);
    const decoding = join(import.meta.dirname, '..', '..', '..', 'packages', 'encoders', 'test-data', 'decoding');
    let runs = 0;
    for (const file of [alpha, join(decoding, 'exif6.jpg'), join(decoding, 'p3.jpg')]) {
      await page.setInputFiles('#image', file);
      await untilRuns(page, ++runs, 60_000);
      const s = await page.evaluate(
        () => (window as unknown as { vlfer: PageResult & { image: { width: number; height: number } } }).vlfer,
      );
      expect(s.error, file).toBeUndefined();
      const node = await decodeImage(file);
      expect(s.image, `${file}: size as Pillow reads it`).toEqual({ width: node.width, height: node.height });
      expect(
        maxDiff(
          await nodeScores(file, false),
          s.results!.map((r) => r.scores),
        ),
        file,
      ).toBeLessThan(1e-4);
    }
    await page.selectOption('#faces', 'detect');
    await page.selectOption('#detector', 'ultraface');
    await page.setInputFiles('#image', demoPhoto);
    await page.waitForFunction(
      () => {
        const v = (window as unknown as { vlfer: PageResult }).vlfer;
        return v.state === 'error' || (v.state === 'done' && (v.results?.length ?? 0) > 1);
      },
      undefined,
      { timeout: 60_000 },
    );
    expect(problems).toEqual([]);
    await page.close();
  }, 180_000);

  it('errors name what was wrong: an unknown URL value, a model that is not served', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}?model=tiny-clip&device=wasm&labels=nope`);
    await untilState(page, ['error'], 60_000);
    expect(await page.locator('#status').textContent()).toMatch(
      /URL parameter labels='nope' is not one of basic-7, basic-8/,
    );
    await page.selectOption('#label-set', 'basic-8'); // choosing a valid one recovers
    await untilState(page, ['ready']);
    await page.goto(`${base}?model=no-such-model&device=wasm`);
    await untilState(page, ['error'], 60_000);
    expect(await page.locator('#status').textContent()).toMatch(
      /GET \/models\/no-such-model\/config\.json answered 404 — no model directory 'no-such-model' is served under \/models\//,
    );
    await page.close();
  }, 180_000);

  it('a bad head file is refused with a message naming it; the page keeps working', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}?model=tiny-clip&device=wasm&faces=none&labels=basic-7&prompts=${promptType}`);
    await untilState(page, ['ready']);
    const bad = join(mkdtempSync(join(tmpdir(), 'vlfer-web-')), 'wrong.safetensors');
    const head = createProjectionHead({ inputDim: 7, outputDim: 8, rng: createRng(1) });
    writeFileSync(bad, encodeProjectionHead(head));
    // a good head first, then the bad one: the refusal must not leave the good head in use
    const good = join(mkdtempSync(join(tmpdir(), 'vlfer-web-')), 'good.safetensors');
    writeFileSync(
      good,
      encodeProjectionHead(createProjectionHead({ inputDim: clip.embeddingDim, outputDim: 24, rng: createRng(2) })),
    );
    await page.setInputFiles('#head', good);
    await untilState(page, ['ready'], 30_000);
    expect(await page.locator('#head-name').textContent()).toBe('good.safetensors');
    await page.setInputFiles('#head', bad);
    await untilState(page, ['error'], 30_000);
    expect(await page.locator('#status').textContent()).toMatch(
      /wrong\.safetensors.*head input dim 7 does not match the encoder's embedding dim.*no head is in use now/,
    );
    expect(await page.locator('#head-name').textContent()).toBe('none');
    await page.setInputFiles('#image', ferImage);
    await untilState(page, ['done'], 60_000);
    const after = await page.evaluate(() => (window as unknown as { vlfer: PageResult }).vlfer);
    expect(after.error).toBeUndefined();
    expect(
      maxDiff(
        await nodeScores(ferImage, false),
        after.results!.map((r) => r.scores),
      ),
    ).toBeLessThan(1e-4); // no head
    await page.close();
  }, 180_000);
});
