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
import { SettingsCache } from './settings-cache.js';
import {
  formatPercent,
  imageFilesOf,
  loadProgress,
  PROMPT_TYPE_NAMES,
  scoresCsv,
  upscaleFactor,
  webGpuFallbackNotice,
  hubIdNotice,
  type GalleryEntry,
} from './present.js';

/** What the page exposes for tests and scripts: its state, the last result and timings (ms since navigation). */
interface PageState {
  state: 'loading' | 'ready' | 'running' | 'done' | 'error';
  error?: string;
  device?: WebDevice;
  /** The regions of the last image shown (the only one, unless several were chosen). */
  results?: RegionResult[];
  image?: { width: number; height: number };
  /** Every image shown, with its regions, in the order they were chosen (what the CSV download holds). */
  gallery: GalleryEntry[];
  /**
   * The classes and settings the shown gallery was computed with (the CSV's columns), recorded when its run began:
   * the form may have changed since (a run under way, a refused head, a model that failed to load).
   */
  computedWith?: { classNames: readonly string[]; settings: Record<string, string> };
  /**
   * The model load bar: its value (0–100), how many progress events transformers.js sent, and the percent of the
   * announced bytes loaded (undefined until a file announced its size).
   */
  progress: { value: number; events: number; download?: number };
  /** Notices shown above the results (WebGPU fallback, Hub ids). */
  notices: string[];
  timings: { modelLoaded?: number; firstResult?: number; lastRun?: number };
  runs: number;
}
const page: PageState = {
  state: 'loading',
  gallery: [],
  progress: { value: 0, events: 0 },
  notices: [],
  timings: {},
  runs: 0,
};
(window as unknown as { vlfer: PageState }).vlfer = page;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const status = $<HTMLDivElement>('status');
const setStatus = (text: string, error = false) => {
  status.textContent = text;
  status.className = error ? 'error' : '';
};

/** Notices by topic; each is one paragraph in #notices until its topic is cleared. */
const notices = new Map<string, string>();
function setNotice(topic: string, text: string | undefined): void {
  if (text === undefined) notices.delete(topic);
  else notices.set(topic, text);
  page.notices = [...notices.values()];
  $<HTMLDivElement>('notices').replaceChildren(
    ...page.notices.map((t) => {
      const p = document.createElement('p');
      p.textContent = t;
      return p;
    }),
  );
}

const progressBar = $<HTMLProgressElement>('load-progress');
const progressText = $<HTMLSpanElement>('load-text');
function setProgress(value: number, text: string): void {
  page.progress.value = value;
  progressBar.value = value;
  progressBar.setAttribute('aria-valuetext', `${Math.round(value)} %`);
  progressText.textContent = text;
}

/** URL parameters that named no option, by the select they were for (cleared when the user picks one). */
const urlProblems = new Map<HTMLSelectElement, string>();
/** Fill a select (when empty) and choose `param`'s URL value; an unknown value is reported, naming the parameter. */
function fillSelect(
  id: string,
  values: readonly string[],
  param: string,
  fallback: string,
  text: (v: string) => string = (v) => v,
): HTMLSelectElement {
  const el = $<HTMLSelectElement>(id);
  if (values.length > 0 && el.options.length === 0) for (const v of values) el.add(new Option(text(v), v));
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
const labelSet = fillSelect(
  'label-set',
  Object.keys(LABEL_SETS),
  'labels',
  'basic-7',
  (id) => `${id} (${getLabelSet(id).names.length} classes)`,
);
const promptType = fillSelect(
  'prompt-type',
  PROMPT_TYPES,
  'prompts',
  'a_photo_of_a_face_with_an_expression_of_name',
  (t) => PROMPT_TYPE_NAMES[t as PromptType],
);
const faces = fillSelect('faces', [], 'faces', 'detect:align');
const detectorSelect = fillSelect('detector', [], 'detector', 'yunet-s');
const mode = fillSelect('mode', PREPROCESS_MODES, 'mode', 'clip');
const imageInput = $<HTMLInputElement>('image');
const headInput = $<HTMLInputElement>('head');
const csvButton = $<HTMLButtonElement>('csv');
// Enter in a field must not submit (and reload) the page
$<HTMLFormElement>('settings').addEventListener('submit', (e) => e.preventDefault());

let clip: WebClipModel | undefined;
/** The model being loaded: one load at a time, so a photo picked during loading waits for it. */
let loading: { key: string; promise: Promise<WebClipModel> } | undefined;
let head: (FeatureProjection & { name: string }) | undefined;
/**
 * The zero-shot classifier, kept for what it was built from (the model, the label set, the prompts, the head): a run
 * gets the one for the settings it asked for, never one whose build began before the form changed.
 */
const classifiers = new SettingsCache<ClassifierSettings, ZeroShotClassifier>(
  (a, b) => a.model === b.model && a.labels === b.labels && a.prompts === b.prompts && a.head === b.head,
);
/**
 * Runs begun so far (and head picks, which supersede them too): only the newest run shows its results (an older one
 * that ends later would show stale settings).
 */
let runsBegun = 0;
/** Image picks and head picks so far: an older pick whose file loads later is dropped. */
let imagePicks = 0;
let headPicks = 0;
/** The model and device the form asks for. */
const modelKey = () => `${modelInput.value} ${device.value}`;
let detector: { id: string; model: Promise<FaceDetectorModel> } | undefined;
/** The images chosen together (one, or a gallery). */
let images: { name: string; image: RgbImage }[] = [];

async function ensureModel(): Promise<WebClipModel> {
  const key = modelKey();
  if (clip && loading?.key === key) return clip;
  if (loading?.key === key) return loading.promise;
  const previous = clip;
  clip = undefined;
  classifiers.clear();
  const remote = params.get('remote') === '1';
  setNotice('hub', hubIdNotice(modelInput.value, remote));
  setNotice('webgpu', undefined);
  const promise = (async () => {
    await previous?.dispose();
    setStatus(`loading ${modelInput.value}…`);
    const files = loadProgress();
    page.progress = { value: 0, events: 0 };
    setProgress(0, `loading ${modelInput.value}…`);
    const chosen = device.value === 'auto' ? undefined : (device.value as WebDevice);
    const model = await loadWebClip({
      model: modelInput.value,
      modelRoot: '/models/',
      wasmPaths: '/ort/',
      allowRemoteModels: remote,
      // prompts longer than 77 tokens are cut as clip.tokenize(truncate=True) does; say which
      log: (line) => console.warn(line),
      onProgress: (event) => {
        if (loading?.key !== key) return;
        page.progress.events++;
        const value = files.update(event);
        if (value !== undefined) page.progress.download = value;
        // downloads are the first 90 %; encoding the prompts is the rest
        if (value !== undefined)
          setProgress(
            Math.max(page.progress.value, 0.9 * value),
            `loading ${modelInput.value}: ${formatPercent(value / 100)} of the files${event.file ? ` (${event.file})` : ''}`,
          );
      },
      ...(chosen ? { device: chosen } : {}),
    });
    if (loading?.key !== key) {
      await model.dispose();
      throw new Error('superseded by another model choice');
    }
    if (!chosen) setNotice('webgpu', await webGpuFallbackNotice(model.device));
    clip = model;
    page.device = model.device;
    return model;
  })();
  loading = { key, promise };
  promise.catch(() => {
    if (loading?.promise === promise) {
      loading = undefined;
      setProgress(page.progress.value, `loading ${modelInput.value} failed`);
    }
  });
  return promise;
}

interface ClassifierSettings {
  model: WebClipModel;
  labels: string;
  prompts: string;
  head: typeof head;
}

/** The classifier for these settings (`asked`: the form's values when a run began; the form's now by default). */
async function ensureClassifier(
  asked: Omit<ClassifierSettings, 'model'> = { labels: labelSet.value, prompts: promptType.value, head },
): Promise<{ model: WebClipModel; zs: ZeroShotClassifier }> {
  const model = await ensureModel();
  const zs = await classifiers.get({ model, ...asked }, async (s) => {
    if (page.progress.value < 100) setProgress(Math.max(page.progress.value, 90), 'encoding the prompts…');
    const set = getLabelSet(s.labels);
    return buildZeroShotClassifier({
      model: s.model,
      classNames: set.names,
      prompts: expClipPrompts(s.prompts as PromptType, set).prompts,
      ...(s.head ? { projection: s.head } : {}),
    });
  });
  page.timings.modelLoaded ??= performance.now();
  setProgress(100, `${model.modelId} ready on ${model.device === 'wasm' ? 'WASM' : 'WebGPU'}`);
  return { model, zs };
}

/** The face detector `id` (a run's recorded choice; '' = no faces), loaded once and kept until another is asked. */
async function ensureDetector(id: string): Promise<FaceDetectorModel | undefined> {
  if (id === '') return undefined;
  if (detector?.id === id) return detector.model;
  const previous = detector;
  const file = FACE_DETECTORS[id as FaceDetectorId].file; // served under /faces/
  detector = {
    id,
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

/**
 * One image on a canvas with its faces boxed and captioned (white on a dark plate, legible on light and dark photos).
 * Images smaller than 240 px are enlarged by an integer factor with nearest-neighbour pixels (and drawn pixelated).
 */
function drawImage(img: RgbImage, results: RegionResult[], name: string, compact: boolean): HTMLCanvasElement {
  const faceResults = results.filter((r) => r.face);
  const drawn =
    faceResults.length > 0
      ? drawFaces(
          img,
          faceResults.map((r) => r.face!),
        )
      : img;
  const rgba = new Uint8ClampedArray(drawn.width * drawn.height * 4);
  for (let p = 0, q = 0; q < rgba.length; p += drawn.channels, q += 4) {
    rgba[q] = drawn.data[p]!;
    rgba[q + 1] = drawn.data[drawn.channels === 3 ? p + 1 : p]!;
    rgba[q + 2] = drawn.data[drawn.channels === 3 ? p + 2 : p]!;
    rgba[q + 3] = 255;
  }
  const k = upscaleFactor(drawn.width, drawn.height);
  const canvas = document.createElement('canvas');
  canvas.width = drawn.width * k;
  canvas.height = drawn.height * k;
  const ctx = canvas.getContext('2d')!;
  if (k === 1) ctx.putImageData(new ImageData(rgba, drawn.width, drawn.height), 0, 0);
  else {
    const small = new OffscreenCanvas(drawn.width, drawn.height);
    small.getContext('2d')!.putImageData(new ImageData(rgba, drawn.width, drawn.height), 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
    canvas.classList.add('pixelated');
  }
  // in a gallery the image is shown small: number the faces in large type, the cards below name them
  const size = Math.max(14, Math.round(Math.max(canvas.width, canvas.height) / (compact ? 14 : 40)));
  ctx.font = `600 ${size}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  faceResults.forEach((r, i) => {
    const top = r.scores[0]!;
    const text = compact ? `${i + 1}` : `${i + 1} · ${top.label} ${formatPercent(top.score)}`;
    const w = ctx.measureText(text).width + size * 0.6;
    const h = size * 1.35;
    const x = Math.min(Math.max(0, r.face!.box.x * k), Math.max(0, canvas.width - w));
    const y = r.face!.box.y * k - h >= 0 ? r.face!.box.y * k - h : Math.max(0, r.face!.box.y * k);
    ctx.fillStyle = 'rgba(0, 0, 0, 0.72)';
    ctx.fillRect(x, y, w, h);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + size * 0.3, y + size * 0.18);
  });
  const top = results.length === 1 ? ` Most likely: ${results[0]!.scores[0]!.label}.` : '';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute(
    'aria-label',
    `${name}, ${img.width}×${img.height}${faceResults.length > 0 ? `, ${faceResults.length} face${faceResults.length === 1 ? '' : 's'} marked` : ''}.${top}`,
  );
  return canvas;
}

/** One region's probabilities as labelled bars with percentages, highest first. */
function scoreList(r: RegionResult): HTMLOListElement {
  const list = document.createElement('ol');
  list.className = 'scores';
  const rows = r.scores.map((s, i) => {
    const row = document.createElement('li');
    if (i === 0) row.className = 'top';
    const name = document.createElement('span');
    name.textContent = s.label;
    const track = document.createElement('span');
    track.className = 'track';
    track.setAttribute('aria-hidden', 'true');
    const fill = document.createElement('span');
    fill.className = 'fill';
    fill.style.display = 'block';
    fill.style.width = `${(100 * s.score).toFixed(1)}%`;
    track.append(fill);
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = formatPercent(s.score);
    row.append(name, track, value);
    return row;
  });
  list.append(...rows);
  return list;
}

/** Show `page.gallery`; `shown` holds its images, in order. */
function render(shown: readonly { image: RgbImage }[]): void {
  const gallery = $<HTMLElement>('gallery');
  gallery.className = page.gallery.length === 1 ? 'single' : '';
  gallery.replaceChildren(
    ...page.gallery.map((entry, n) => {
      const card = document.createElement('article');
      card.className = 'card';
      card.setAttribute('aria-labelledby', `card-${n}`);
      const figure = document.createElement('figure');
      const caption = document.createElement('figcaption');
      const title = document.createElement('h2');
      title.id = `card-${n}`;
      title.className = 'visually-hidden';
      title.textContent = entry.name;
      caption.textContent = `${entry.name} · ${entry.width}×${entry.height}`;
      figure.append(drawImage(shown[n]!.image, entry.results, entry.name, page.gallery.length > 1), caption);
      const regions = document.createElement('div');
      regions.className = 'regions';
      if (entry.note) {
        const note = document.createElement('p');
        note.className = 'note';
        note.textContent = entry.note;
        regions.append(note);
      }
      if (entry.results.length === 0) {
        const none = document.createElement('p');
        none.textContent = 'No face found.';
        regions.append(none);
      }
      entry.results.forEach((r, i) => {
        const div = document.createElement('div');
        div.className = 'region';
        const h = document.createElement('h3');
        h.textContent = r.face ? `Face ${i + 1} (detector score ${r.face.score.toFixed(2)})` : 'Whole image';
        div.append(h, scoreList(r));
        regions.append(div);
      });
      card.append(title, figure, regions);
      return card;
    }),
  );
  csvButton.disabled = page.gallery.length === 0;
}

/**
 * The page's model work, one piece at a time: onnxruntime-web's WASM sessions used by two runs at once (form changes
 * a few ms apart) failed with "unaligned accesses" or "null function", and every later run failed until a reload.
 */
let turn: Promise<unknown> = Promise.resolve();
function exclusive<T>(work: () => Promise<T>): Promise<T> {
  const mine = turn.then(work, work);
  turn = mine.catch(() => undefined);
  return mine;
}

async function run(): Promise<void> {
  if (urlProblems.size > 0) {
    fail(new Error([...urlProblems.values()].join('; ')));
    return;
  }
  if (images.length === 0) return;
  page.state = 'running';
  // what this run computes with, read before its first await (the form may change meanwhile)
  const asked = {
    labels: labelSet.value,
    prompts: promptType.value,
    faces: faces.value,
    detector: faces.value === 'none' ? '' : detectorSelect.value,
    mode: mode.value,
    head: head?.name ?? '',
  };
  const detectorName = [...detectorSelect.options].find((o) => o.value === asked.detector)?.text ?? asked.detector;
  const projection = head;
  const thisRun = ++runsBegun;
  // images chosen, or settings changed, while this run waits or works supersede it: the newer run shows its own
  const batch = images;
  const superseded = () => batch !== images || thisRun !== runsBegun;
  try {
    await exclusive(async () => {
      if (superseded()) return;
      const t0 = performance.now();
      setStatus(`classifying ${batch.length === 1 ? batch[0]!.name : `${batch.length} images`}…`);
      const [{ model, zs }, det] = await Promise.all([
        ensureClassifier({ labels: asked.labels, prompts: asked.prompts, head: projection }),
        ensureDetector(asked.detector),
      ]);
      const computedWith = {
        classNames: getLabelSet(asked.labels).names,
        settings: { model: model.modelId, device: model.device, ...asked },
      };
      const [align, size, margin] = [asked.faces === 'detect:align', 224, 0.2];
      const gallery: GalleryEntry[] = [];
      for (const { name, image } of batch) {
        if (superseded()) return;
        const results = await classifyImage(image, {
          clip: model,
          classifier: zs,
          mode: asked.mode as PreprocessMode,
          ...(det ? { detector: det, faces: { align, size, margin }, noFace: 'full' as const } : {}),
        });
        const small = Math.max(image.width, image.height) <= 160;
        gallery.push({
          name,
          width: image.width,
          height: image.height,
          results,
          ...(results[0]?.noFace
            ? {
                note: `${detectorName} found no face${small ? ` in this ${image.width}×${image.height} image, which looks like a pre-cropped face` : ''}: the whole image was classified.`,
              }
            : {}),
        });
      }
      if (superseded()) return;
      page.timings.lastRun = performance.now() - t0;
      page.timings.firstResult ??= performance.now();
      page.gallery = gallery;
      page.computedWith = computedWith;
      page.results = gallery.at(-1)!.results;
      page.image = { width: batch.at(-1)!.image.width, height: batch.at(-1)!.image.height };
      page.runs++;
      delete page.error;
      render(batch);
      const regions = gallery.reduce((a, g) => a + g.results.length, 0);
      const fallbacks = gallery.filter((g) => g.note).length;
      setStatus(
        `${model.modelId} on ${model.device === 'wasm' ? 'WASM' : 'WebGPU'}: ${batch.length === 1 ? '' : `${batch.length} images, `}${regions} region${regions === 1 ? '' : 's'} in ${page.timings.lastRun.toFixed(0)} ms${projection ? ` (with the Exp-CLIP head ${projection.name})` : ''}${fallbacks > 0 ? `; no face found in ${fallbacks === 1 && batch.length === 1 ? 'the image' : `${fallbacks} image${fallbacks === 1 ? '' : 's'}`}, classified whole` : ''}`,
      );
      page.state = 'done';
    });
  } catch (error) {
    // a run superseded while it worked (its model or detector replaced under it) is not the page's state
    if (superseded()) console.warn(`a superseded run failed: ${(error as Error)?.message ?? String(error)}`);
    else fail(error);
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
function on(target: EventTarget, type: string, handler: (event: Event) => Promise<void>): void {
  target.addEventListener(type, (event) => {
    handler(event).catch(fail);
  });
}

function clearImages(): void {
  images = [];
  page.gallery = [];
  $<HTMLSpanElement>('image-name').textContent = 'none';
  render([]);
}

/** Decode the files (all or none: a file that cannot be decoded is named, and nothing is shown) and classify them. */
async function showFiles(files: readonly File[], via: string): Promise<void> {
  if (files.length === 0) return;
  // the newest pick decides what is shown: an older one whose decoding ends later is dropped
  const pick = ++imagePicks;
  const decoded: { name: string; image: RgbImage }[] = [];
  for (const file of files) {
    try {
      decoded.push({ name: file.name || `pasted image ${decoded.length + 1}`, image: await decodeBlob(file) });
    } catch (error) {
      if (pick !== imagePicks) return;
      clearImages();
      fail(new Error(`${file.name}: the browser cannot decode it (${(error as Error).message})`));
      return;
    }
  }
  if (pick !== imagePicks) return;
  images = decoded;
  $<HTMLSpanElement>('image-name').textContent =
    images.length === 1
      ? `${images[0]!.name}${via}`
      : `${images.length} images${via}: ${images.map((i) => i.name).join(', ')}`;
  await run();
}

on(imageInput, 'change', async () => {
  const files = [...(imageInput.files ?? [])];
  imageInput.value = ''; // picking the same file again fires 'change' again; the "shown:" line names what is shown
  await showFiles(files, '');
});

// drop anywhere on the page; the drop zone lights up while something is dragged over the page
const dropZone = $<HTMLElement>('drop');
let dragDepth = 0;
document.addEventListener('dragenter', (e) => {
  e.preventDefault();
  dragDepth++;
  dropZone.classList.add('dragging');
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropZone.classList.remove('dragging');
});
document.addEventListener('dragover', (e) => e.preventDefault());
on(document, 'drop', async (event) => {
  const e = event as DragEvent;
  e.preventDefault();
  dragDepth = 0;
  dropZone.classList.remove('dragging');
  const { images: files, refused } = imageFilesOf(e.dataTransfer);
  if (files.length === 0) {
    fail(new Error(`nothing to show: ${refused.length > 0 ? refused.join(', ') : 'the drop held no file'}`));
    return;
  }
  await showFiles(files, ' (dropped)');
});
on(document, 'paste', async (event) => {
  const e = event as ClipboardEvent;
  // text pasted into the Model field stays text
  if (e.target instanceof HTMLInputElement && e.target.type === 'text') return;
  const { images: files } = imageFilesOf(e.clipboardData);
  if (files.length === 0) return;
  e.preventDefault();
  await showFiles(files, ' (pasted)');
});

csvButton.addEventListener('click', () => {
  // the settings the shown scores were computed with, not the form's now (changed during a run, a refused head)
  if (!page.computedWith) return;
  const text = scoresCsv(page.gallery, page.computedWith.classNames, page.computedWith.settings);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  a.download = 'vlfer-scores.csv';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
});

on(headInput, 'change', async () => {
  const file = headInput.files?.[0];
  headInput.value = '';
  if (!file) return;
  // a newer head, a model change, or this head refused: runs under way no longer show (they use the head before)
  const pick = ++headPicks;
  runsBegun++;
  const modelAsked = modelKey();
  try {
    // in turn with the runs: loading another model here disposed the one a run was using
    const loaded = await exclusive(async () => {
      const model = await ensureModel();
      return loadWebProjectionHead(new Uint8Array(await file.arrayBuffer()), file.name, model.embeddingDim);
    });
    if (pick !== headPicks) return; // a newer head was picked meanwhile
    if (modelKey() !== modelAsked)
      throw new Error(`${file.name}: the model changed while it loaded (a head belongs to one encoder); pick it again`);
    head = { ...loaded, name: file.name };
  } catch (error) {
    if (pick !== headPicks) return;
    // a refused head is not used, and neither is the one before it: the page says so
    head = undefined;
    $<HTMLSpanElement>('head-name').textContent = 'none';
    fail(new Error(`${(error as Error).message} — no head is in use now`));
    return;
  }
  $<HTMLSpanElement>('head-name').textContent = file.name;
  if (images.length > 0) await run();
  else {
    setStatus(`head ${file.name} loaded (${head.inputDim}→${head.outputDim})`);
    page.state = 'ready';
  }
});

for (const el of [labelSet, promptType, mode, faces, detectorSelect])
  on(el, 'change', async () => {
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
    if (images.length > 0 && page.state !== 'error') await run();
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
  const name = `camera frame ${video.videoWidth}×${video.videoHeight}`;
  images = [{ name, image: await decodeBlob(await createImageBitmap(video)) }];
  $<HTMLSpanElement>('image-name').textContent = name;
  await run();
});

async function boot(): Promise<void> {
  if (urlProblems.size > 0) {
    fail(new Error([...urlProblems.values()].join('; ')));
    return;
  }
  try {
    const { model } = await exclusive(() => ensureClassifier());
    if (page.state === 'running') return; // a run waits behind this: it says what happens next
    page.state = 'ready';
    delete page.error;
    setStatus(
      `${model.modelId} ready on ${model.device === 'wasm' ? 'WASM' : 'WebGPU'}: choose, drop or paste images, or start the webcam`,
    );
  } catch (error) {
    fail(error);
  }
}
void boot();
