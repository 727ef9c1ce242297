/**
 * @file What the page shows and writes, kept free of the DOM so it is tested in Node (`present.test.ts`):
 * percentages, prompt type names, the load progress over files, notices, the image upscale factor and the CSV of
 * the scores.
 */
import { csvRow } from '@vlfer/core';
import { PROMPT_TYPES, type PromptType } from '@vlfer/llm-knowledge';
import type { RegionResult } from './zero-shot.js';

/** One image the page classified: its name (file name, or what it came from), size and regions. */
export interface GalleryEntry {
  name: string;
  width: number;
  height: number;
  results: RegionResult[];
  /** Why the regions are not what was asked for (no face found: the whole image was classified). */
  note?: string;
}

/** A probability as a percentage with one decimal ("63.2%"); below 0.05 % it reads "<0.1%", never "0.0%". */
export function formatPercent(p: number): string {
  if (!Number.isFinite(p) || p < 0 || p > 1) throw new RangeError(`formatPercent: expected a probability, got ${p}`);
  return p > 0 && p < 0.0005 ? '<0.1%' : `${(100 * p).toFixed(1)}%`;
}

/** Each prompt type as a person reads it; the option values (and the `prompts` URL parameter) stay the ids. */
export const PROMPT_TYPE_NAMES: Readonly<Record<PromptType, string>> = {
  class_name: 'the class name ("happiness")',
  an_expression_of_name: '"an expression of happiness"',
  a_photo_of_a_face_with_an_expression_of_name: '"a photo of a face with an expression of happiness"',
  expression_ensemble_five: 'ensemble of 5 descriptions per class',
  expression_ensemble_ten: 'ensemble of 10 descriptions per class',
};
// every prompt type has a name (a new type without one fails here, at import)
for (const t of PROMPT_TYPES) if (!PROMPT_TYPE_NAMES[t]) throw new Error(`PROMPT_TYPE_NAMES lacks '${t}'`);

/**
 * Progress over the files transformers.js fetches: bytes loaded over bytes announced, in percent. `update` takes its
 * progress events (`{ status: 'progress', file, loaded, total }`; `'done'` completes a file) and returns the percent,
 * or undefined while no file has announced its size.
 */
export function loadProgress(): {
  update(event: { status: string; file?: string; progress?: number }): number | undefined;
} {
  const files = new Map<string, { loaded: number; total: number }>();
  return {
    update(event) {
      const e = event as { status: string; file?: string; loaded?: number; total?: number };
      if (e.file !== undefined) {
        if (e.status === 'progress' && Number.isFinite(e.total) && e.total! > 0)
          files.set(e.file, { loaded: Math.min(e.loaded ?? 0, e.total!), total: e.total! });
        else if (e.status === 'done') {
          const f = files.get(e.file);
          if (f) f.loaded = f.total;
        }
      }
      let loaded = 0;
      let total = 0;
      for (const f of files.values()) {
        loaded += f.loaded;
        total += f.total;
      }
      return total > 0 ? (100 * loaded) / total : undefined;
    },
  };
}

/**
 * The notice for `device=auto` when the model runs on WASM: why WebGPU was not used (no `navigator.gpu`, or no
 * adapter). Undefined when the model runs on WebGPU.
 */
export async function webGpuFallbackNotice(device: 'wasm' | 'webgpu'): Promise<string | undefined> {
  if (device === 'webgpu') return undefined;
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  let reason: string;
  if (!gpu)
    reason =
      'this browser has no WebGPU (navigator.gpu is missing; WebGPU needs a recent browser and https or localhost)';
  else {
    try {
      reason =
        (await gpu.requestAdapter()) === null
          ? 'this browser offers no WebGPU adapter (no usable GPU, or WebGPU is turned off for it)'
          : 'WebGPU became available only after the model was loaded';
    } catch (error) {
      reason = `asking for a WebGPU adapter failed (${(error as Error).message})`;
    }
  }
  return `Device "auto" fell back from WebGPU to WASM: ${reason}. The model runs on the CPU, which is slower.`;
}

/** The notice for a model name that looks like a Hugging Face Hub id while remote models are off; else undefined. */
export function hubIdNotice(model: string, remote: boolean): string | undefined {
  if (remote || !/^[\w.-]+\/[\w.-]+$/.test(model)) return undefined;
  return `"${model}" looks like a Hugging Face Hub id. This page loads models only from this server's /models/ unless its URL has ?remote=1 (then the model is downloaded from huggingface.co).`;
}

/** The image files among dropped or pasted items, and a line for each item that is not one. */
export function imageFilesOf(data: { files: ArrayLike<File> } | null): { images: File[]; refused: string[] } {
  const files = Array.from(data?.files ?? []);
  return {
    images: files.filter((f) => f.type.startsWith('image/')),
    refused: files
      .filter((f) => !f.type.startsWith('image/'))
      .map((f) => `${f.name} (${f.type || 'unknown type'}) is not an image`),
  };
}

/** The integer factor by which an image is enlarged on screen: images under 240 px are scaled up to about 240 px. */
export function upscaleFactor(width: number, height: number): number {
  const side = Math.max(width, height);
  return side >= 240 || side <= 0 ? 1 : Math.min(8, Math.ceil(240 / side));
}

/**
 * A text cell as a spreadsheet may read it safely: one that starts with `=`, `+`, `-`, `@`, a tab or a carriage
 * return gets a leading `'` (OWASP's advice against CSV formula injection: a file named `=HYPERLINK(…).jpg` was a live
 * formula when the CSV was opened in Excel or LibreOffice). Numbers are written as they are.
 */
export function spreadsheetText(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/**
 * The scores of every region of every image as CSV (RFC 4180, CRLF, quoted by `csvRow` from `@vlfer/core`): one row
 * per region — file, size, region, one probability column `p_<class>` per class in label-set order (full precision),
 * the face box and detector score (empty for a whole image), `no_face` (1 when no face was found and the whole image
 * was classified), and the settings the scores were computed with.
 * @throws Error when a region lacks a score for one of `classNames` (the scores are not of this label set)
 */
export function scoresCsv(
  gallery: readonly GalleryEntry[],
  classNames: readonly string[],
  settings: Readonly<Record<string, string>>,
): string {
  const header = [
    'file',
    'width',
    'height',
    'region',
    ...classNames.map((c) => `p_${c}`),
    'face_score',
    'box_x',
    'box_y',
    'box_width',
    'box_height',
    'no_face',
    ...Object.keys(settings),
  ];
  const rows = gallery.flatMap((g) =>
    g.results.map((r, i) => {
      const byLabel = new Map(r.scores.map((s) => [s.label, s.score]));
      const probs = classNames.map((c) => {
        const p = byLabel.get(c);
        if (p === undefined) throw new Error(`scoresCsv: ${g.name} region ${i + 1} has no score for class '${c}'`);
        return p;
      });
      const f = r.face;
      return csvRow([
        spreadsheetText(g.name),
        g.width,
        g.height,
        f ? `face ${i + 1}` : 'whole image',
        ...probs,
        f ? f.score : null,
        f ? f.box.x : null,
        f ? f.box.y : null,
        f ? f.box.width : null,
        f ? f.box.height : null,
        r.noFace ? 1 : 0,
        ...Object.values(settings).map(spreadsheetText),
      ]);
    }),
  );
  return [csvRow(header), ...rows].join('\r\n') + '\r\n';
}
