import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  writeSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { createRng, DataFormatError } from '@vlfer/core';
import { ensureDir, writeJsonAtomic } from '@vlfer/core/node';
import { OPENAI_CLIP_PREPROCESSOR } from '@vlfer/encoders';

interface Manifest {
  data_file: string;
  data_bytes: number;
  tensors: { name: string; dims: number[]; mean: number; std: number; offset: number; length: number }[];
}

/**
 * Write the external-data file of a weights-free graph from its manifest: each tensor at its offset as float32
 * drawn from N(mean, std) with a seeded RNG (bytes not listed stay zero). Speed does not depend on the values.
 * Written to a temp file, then renamed. Returns the path.
 */
export function writeWeightsFromManifest(manifestPath: string, outPath: string, seed = 0): string {
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  if (!Number.isInteger(m.data_bytes) || !Array.isArray(m.tensors))
    throw new DataFormatError({ file: manifestPath, message: 'expected data_bytes and tensors[]' });
  if (existsSync(outPath) && statSync(outPath).size === m.data_bytes) return outPath;
  const rng = createRng(seed);
  const tmp = `${outPath}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, new Uint8Array(1), 0, 1, m.data_bytes - 1); // size the file; gaps stay zero
    for (const t of m.tensors) {
      if (t.length % 4 !== 0 || t.offset + t.length > m.data_bytes)
        throw new DataFormatError({
          file: manifestPath,
          field: t.name,
          message: `bad offset/length ${t.offset}/${t.length}`,
        });
      const v = new Float32Array(t.length / 4);
      if (t.std === 0) v.fill(t.mean);
      else for (let i = 0; i < v.length; i++) v[i] = t.mean + t.std * rng.normal();
      writeSync(fd, new Uint8Array(v.buffer), 0, v.byteLength, t.offset);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, outPath);
  return outPath;
}

/**
 * Turn `shared/fixtures/graphs/<arch>` (graphs + manifests, no weights) into a model directory in the
 * Hugging Face / transformers.js layout that `loadClip` accepts: config.json, preprocessor_config.json
 * (OpenAI CLIP's), tokenizer files, onnx/{vision,text}_model.onnx with regenerated .onnx.data.
 */
export function materializeClipGraphs(options: {
  graphDir: string;
  tokenizerDir: string;
  outDir: string;
  towers?: readonly ('vision' | 'text')[];
  seed?: number;
}): string {
  const { graphDir, tokenizerDir, outDir } = options;
  const towers = options.towers ?? ['vision', 'text'];
  // shared/ files are read-only; copyFileSync keeps the mode, so replace rather than overwrite
  const copy = (from: string, to: string) => {
    rmSync(to, { force: true });
    copyFileSync(from, to);
  };
  ensureDir(join(outDir, 'onnx'));
  copy(join(graphDir, 'config.json'), join(outDir, 'config.json'));
  writeJsonAtomic(join(outDir, 'preprocessor_config.json'), {
    crop_size: { height: OPENAI_CLIP_PREPROCESSOR.cropSize, width: OPENAI_CLIP_PREPROCESSOR.cropSize },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: OPENAI_CLIP_PREPROCESSOR.mean,
    image_std: OPENAI_CLIP_PREPROCESSOR.std,
    image_processor_type: 'CLIPImageProcessor',
    resample: 3,
    rescale_factor: 1 / 255,
    size: { shortest_edge: OPENAI_CLIP_PREPROCESSOR.shortestEdge },
  });
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'])
    copy(join(tokenizerDir, f), join(outDir, f));
  for (const tower of towers) {
    const name = `${tower}_model`;
    const manifest = join(graphDir, `${name}.manifest.json`);
    const dataFile = (JSON.parse(readFileSync(manifest, 'utf8')) as Manifest).data_file;
    copy(join(graphDir, `${name}.onnx`), join(outDir, 'onnx', `${name}.onnx`));
    writeWeightsFromManifest(manifest, join(outDir, 'onnx', dataFile), options.seed ?? 0);
  }
  return outDir;
}
