import {
  buildZeroShotClassifier,
  PREPROCESS_MODES,
  type PreprocessMode,
  type ZeroShotClassifier,
} from '@vlfer/encoders';
import { loadWebClip, type WebClipModel, type WebDevice } from '@vlfer/encoders/web';
import { LABEL_SETS, getLabelSet } from '@vlfer/datasets';
import { drawFaces, FACE_DETECTORS, type FaceDetectorId, type FaceDetectorModel, type RgbImage } from '@vlfer/faces';
import { expClipPrompts, PROMPT_TYPES, type PromptType } from '@vlfer/llm-knowledge';
import type { FeatureProjection } from '@vlfer/core';
import { loadWebFaceDetector, loadWebProjectionHead } from './ort.js';
import { classifyImage, decodeBlob, type RegionResult } from './zero-shot.js';

/** What the page exposes for tests and scripts: its state, the last result and timings (ms since navigation). */
interface PageState {
  state: 'loading' | 'ready' | 'running' | 'done' | 'error';
  error?: string;
  device?: WebDevice;
  results?: RegionResult[];
  image?: { width: number; height: number };
  timings: { modelLoaded?: number; firstResult?: number; lastRun?: number };
  runs: number;
}
const page: PageState = { state: 'loading', timings: {}, runs: 0 };
(window as unknown as { vlfer: PageState }).vlfer = page;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const status = $<HTMLDivElement>('status');
const setStatus = (text: string, error = false) => {
  status.textContent = text;
  status.className = error ? 'error' : '';
};

/** URL parameters that named no option, by the select they were for (cleared when the user picks one). */
const urlProblems = new Map<HTMLSelectElement, string>();
/** Fill a select (when empty) and choose `param`'s URL value; an unknown value is reported, naming the parameter. */
function fillSelect(id: string, values: readonly string[], param: string, fallback: string): HTMLSelectElement {
  const el = $<HTMLSelectElement>(id);
  if (values.length > 0 && el.options.length === 0) for (const v of values) el.add(new Option(v, v));
  const wanted = params.get(param);
  const allowed = Array.from(el.options, (o) => o.value);
  if (wanted !== null && !allowed.includes(wanted))
    urlProblems.set(el, `URL parameter ${param}='${wanted}' is not one of ${allowed.join(', ')}`);
  el.value = wanted !== null && allowed.includes(wanted) ? wanted : fallback;
  return el;
}
const modelInput = $<HTMLInputElement>('model');
modelInput.value = params.get('model') ?? 'tiny-clip';
const device = fillSelect('device', [], 'device', 'auto');
const labelSet = fillSelect('label-set', Object.keys(LABEL_SETS), 'labels', 'basic-7');
const promptType = fillSelect('prompt-type', PROMPT_TYPES, 'prompts', 'a_photo_of_a_face_with_an_expression_of_name');
const faces = fillSelect('faces', [], 'faces', 'detect:align');
const detectorSelect = fillSelect('detector', [], 'detector', 'yunet-s');
const mode = fillSelect('mode', PREPROCESS_MODES, 'mode', 'clip');
const imageInput = $<HTMLInputElement>('image');
const headInput = $<HTMLInputElement>('head');
// Enter in a field must not submit (and reload) the page
$<HTMLFormElement>('settings').addEventListener('submit', (e) => e.preventDefault());

let clip: WebClipModel | undefined;
/** The model being loaded: one load at a time, so a photo picked during loading waits for it. */
let loading: { key: string; promise: Promise<WebClipModel> } | undefined;
let head: (FeatureProjection & { name: string }) | undefined;
let classifier: ZeroShotClassifier | undefined;
let detector: { id: string; model: Promise<FaceDetectorModel> } | undefined;
let image: RgbImage | undefined;

async function ensureModel(): Promise<WebClipModel> {
  const key = `${modelInput.value} ${device.value}`;
  if (clip && loading?.key === key) return clip;
  if (loading?.key === key) return loading.promise;
  const previous = clip;
  clip = undefined;
  classifier = undefined;
  const promise = (async () => {
    await previous?.dispose();
    setStatus(`loading ${modelInput.value}…`);
    const chosen = device.value === 'auto' ? undefined : (device.value as WebDevice);
    const model = await loadWebClip({
      model: modelInput.value,
      modelRoot: '/models/',
      wasmPaths: '/ort/',
      allowRemoteModels: params.get('remote') === '1',
      // prompts longer than 77 tokens are cut as clip.tokenize(truncate=True) does; say which
      log: (line) => console.warn(line),
      ...(chosen ? { device: chosen } : {}),
    });
    if (loading?.key !== key) {
      await model.dispose();
      throw new Error('superseded by another model choice');
    }
    clip = model;
    page.device = model.device;
    page.timings.modelLoaded ??= performance.now();
    return model;
  })();
  loading = { key, promise };
  promise.catch(() => {
    if (loading?.promise === promise) loading = undefined;
  });
  return promise;
}

async function ensureClassifier(): Promise<ZeroShotClassifier> {
  const model = await ensureModel();
  if (classifier) return classifier;
  const set = getLabelSet(labelSet.value);
  classifier = await buildZeroShotClassifier({
    model,
    classNames: set.names,
    prompts: expClipPrompts(promptType.value as PromptType, set).prompts,
    ...(head ? { projection: head } : {}),
  });
  return classifier;
}

async function ensureDetector(): Promise<FaceDetectorModel | undefined> {
  if (faces.value === 'none') return undefined;
  if (detector?.id === detectorSelect.value) return detector.model;
  const previous = detector;
  const file = FACE_DETECTORS[detectorSelect.value as FaceDetectorId].file; // served under /faces/
  detector = {
    id: detectorSelect.value,
    model: (async () => {
      await previous?.model.then(
        (m) => m.dispose(),
        () => undefined,
      );
      return loadWebFaceDetector(`/faces/${file}`);
    })(),
  };
  const current = detector;
  current.model.catch(() => {
    if (detector === current) detector = undefined;
  });
  return current.model;
}

function draw(img: RgbImage, results: RegionResult[]): void {
  const canvas = $<HTMLCanvasElement>('view');
  const faceResults = results.filter((r) => r.face);
  const drawn =
    faceResults.length > 0
      ? drawFaces(
          img,
          faceResults.map((r) => r.face!),
        )
      : img;
  canvas.width = drawn.width;
  canvas.height = drawn.height;
  const rgba = new Uint8ClampedArray(drawn.width * drawn.height * 4);
  for (let p = 0, q = 0; q < rgba.length; p += drawn.channels, q += 4) {
    rgba[q] = drawn.data[p]!;
    rgba[q + 1] = drawn.data[drawn.channels === 3 ? p + 1 : p]!;
    rgba[q + 2] = drawn.data[drawn.channels === 3 ? p + 2 : p]!;
    rgba[q + 3] = 255;
  }
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(new ImageData(rgba, drawn.width, drawn.height), 0, 0);
  ctx.font = `${Math.max(12, Math.round(drawn.width / 40))}px system-ui`;
  ctx.fillStyle = '#ffd400';
  faceResults.forEach((r, i) =>
    ctx.fillText(`${i + 1}: ${r.scores[0]!.label}`, r.face!.box.x, Math.max(12, r.face!.box.y - 4)),
  );
  const out = $<HTMLDivElement>('results');
  out.replaceChildren(
    ...results.map((r, i) => {
      const div = document.createElement('div');
      div.className = 'face';
      const title = document.createElement('h3');
      title.textContent = r.face ? `Face ${i + 1} (score ${r.face.score.toFixed(2)})` : 'Whole image';
      div.append(
        title,
        ...r.scores.map((s) => {
          const row = document.createElement('div');
          row.className = 'bar';
          const name = document.createElement('span');
          name.textContent = s.label;
          const track = document.createElement('div');
          track.className = 'track';
          const fill = document.createElement('div');
          fill.className = 'fill';
          fill.style.width = `${(100 * s.score).toFixed(1)}%`;
          track.append(fill);
          const value = document.createElement('span');
          value.textContent = s.score.toFixed(4);
          row.append(name, track, value);
          return row;
        }),
      );
      return div;
    }),
  );
  if (results.length === 0) out.textContent = 'No face found (try "whole image").';
}

async function run(): Promise<void> {
  if (urlProblems.size > 0) {
    fail(new Error([...urlProblems.values()].join('; ')));
    return;
  }
  if (!image) return;
  page.state = 'running';
  try {
    const t0 = performance.now();
    const [zs, det] = await Promise.all([ensureClassifier(), ensureDetector()]);
    const [align, size, margin] = [faces.value === 'detect:align', 224, 0.2];
    const results = await classifyImage(image, {
      clip: clip!,
      classifier: zs,
      mode: mode.value as PreprocessMode,
      ...(det ? { detector: det, faces: { align, size, margin } } : {}),
    });
    page.timings.lastRun = performance.now() - t0;
    page.timings.firstResult ??= performance.now();
    page.results = results;
    page.image = { width: image.width, height: image.height };
    page.runs++;
    delete page.error;
    draw(image, results);
    setStatus(
      `${clip!.modelId} on ${clip!.device}: ${results.length} region${results.length === 1 ? '' : 's'} in ${page.timings.lastRun.toFixed(0)} ms${head ? ` (with the Exp-CLIP head ${head.name})` : ''}`,
    );
    page.state = 'done';
  } catch (error) {
    fail(error);
  }
}

function fail(error: unknown): void {
  page.state = 'error';
  page.error = String((error as Error)?.message ?? error);
  setStatus(page.error, true);
}

/**
 * Event handlers are async; a rejection that escaped one would only reach the console. `on` routes it to `fail`, so
 * the page shows it (the camera's "Classify frame" handler had no catch: a frame the browser could not decode was lost).
 */
function on(target: EventTarget, type: string, handler: () => Promise<void>): void {
  target.addEventListener(type, () => {
    handler().catch(fail);
  });
}

on(imageInput, 'change', async () => {
  const file = imageInput.files?.[0];
  imageInput.value = ''; // picking the same file again fires 'change' again
  if (!file) return;
  try {
    image = await decodeBlob(file);
    $<HTMLSpanElement>('image-name').textContent = file.name;
  } catch (error) {
    image = undefined;
    $<HTMLSpanElement>('image-name').textContent = 'none';
    $<HTMLDivElement>('results').replaceChildren();
    const canvas = $<HTMLCanvasElement>('view');
    canvas.getContext('2d')!.clearRect(0, 0, canvas.width, canvas.height);
    fail(new Error(`${file.name}: the browser cannot decode it (${(error as Error).message})`));
    return;
  }
  await run();
});

on(headInput, 'change', async () => {
  const file = headInput.files?.[0];
  headInput.value = '';
  if (!file) return;
  classifier = undefined;
  try {
    const model = await ensureModel();
    head = {
      ...(await loadWebProjectionHead(new Uint8Array(await file.arrayBuffer()), file.name, model.embeddingDim)),
      name: file.name,
    };
  } catch (error) {
    // a refused head is not used, and neither is the one before it: the page says so
    head = undefined;
    $<HTMLSpanElement>('head-name').textContent = 'none';
    fail(new Error(`${(error as Error).message} — no head is in use now`));
    return;
  }
  $<HTMLSpanElement>('head-name').textContent = file.name;
  if (image) await run();
  else {
    setStatus(`head ${file.name} loaded (${head.inputDim}→${head.outputDim})`);
    page.state = 'ready';
  }
});

for (const el of [labelSet, promptType, mode, faces, detectorSelect])
  on(el, 'change', async () => {
    if (el === labelSet || el === promptType) classifier = undefined;
    if (urlProblems.delete(el) && page.state === 'error') {
      await boot();
      if (page.state === 'error') return;
    }
    await run();
  });
for (const el of [modelInput, device])
  on(el, 'change', async () => {
    if (el === device) urlProblems.delete(device);
    // a head belongs to one encoder: drop it with the model, and say so
    if (head) {
      head = undefined;
      $<HTMLSpanElement>('head-name').textContent = 'none (dropped with the model change)';
    }
    await boot();
    if (image && page.state !== 'error') await run();
  });

const video = $<HTMLVideoElement>('video');
on($<HTMLButtonElement>('camera'), 'click', async () => {
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    await video.play();
    $<HTMLButtonElement>('snap').disabled = false;
    setStatus('camera on: press "Classify frame"');
  } catch (error) {
    fail(new Error(`camera: ${(error as Error).message}`));
  }
});
on($<HTMLButtonElement>('snap'), 'click', async () => {
  image = await decodeBlob(await createImageBitmap(video));
  $<HTMLSpanElement>('image-name').textContent = `camera frame ${video.videoWidth}x${video.videoHeight}`;
  await run();
});

async function boot(): Promise<void> {
  if (urlProblems.size > 0) {
    fail(new Error([...urlProblems.values()].join('; ')));
    return;
  }
  try {
    await ensureClassifier();
    page.state = 'ready';
    delete page.error;
    setStatus(`${clip!.modelId} ready on ${clip!.device}: choose a photo or start the webcam`);
  } catch (error) {
    fail(error);
  }
}
void boot();
