import {
  linkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, DataFormatError, type Tensor4D } from '@vlfer/core';
import { hashFile, openSafetensorsFile, readSafetensors, writeSafetensors } from '@vlfer/core/node';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { visionTowerVjpModel } from '../clip-graphs.js';
import { ClipGradientModel, defaultWeightsIn, STORED_WEIGHTS_OPTIMIZATION } from './clip-gradients.js';
import { loadClip } from './clip.js';
import { loadClipWeights, resolveClipSource } from './clip-source.js';
import { mapFilePrivate } from './mapped-file.js';
import { DirectSession } from './ort-direct.js';

const tiny = sharedPath('fixtures', 'tiny-clip');

/** A copy of tiny-clip in a temp directory (`edit` may then change its model.safetensors). */
function tinyCopy(edit?: (file: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-ext-'));
  for (const f of readdirSync(tiny)) if (f !== 'onnx') copyWritable(join(tiny, f), join(dir, f));
  edit?.(join(dir, 'model.safetensors'));
  return dir;
}

/** tiny-clip's weights rewritten as BF16 (the high half of each float32), a file that needs a conversion. */
function writeBf16(file: string): void {
  const t = readSafetensors(file).tensors;
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [k, v] of Object.entries(t)) {
    const u32 = new Uint32Array(v.data.buffer, v.data.byteOffset, v.data.length);
    const bf = Uint16Array.from(u32, (x) => x >>> 16);
    header[k] = { dtype: 'BF16', shape: v.dims, data_offsets: [off, off + bf.byteLength] };
    parts.push(new Uint8Array(bf.buffer));
    off += bf.byteLength;
  }
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.length));
  writeFileSync(file, Buffer.concat([len, head, ...parts]));
}

function pixels(n: number, S: number): Tensor4D {
  const rng = createRng(3);
  return {
    dtype: 'float32',
    data: Float32Array.from({ length: n * 3 * S * S }, () => rng.normal()),
    dims: [n, 3, S, S],
  };
}

async function embeds(dir: string, options: Parameters<typeof ClipGradientModel.load>[1]) {
  const m = await ClipGradientModel.load(dir, { weightsIn: 'graph', ...options });
  try {
    const S = m.arch.vision.imageSize!;
    const image = await m.visionForwardEmbeds(pixels(3, S));
    const ids = [49406, 320, 1125, 49407, 49407, 49406, 518, 49407, 49407, 49407];
    const text = await m.textForwardEmbeds(m.tokenEmbeddings(ids, [2, 5]), [3, 2]);
    return { image: image.data, text: text.data };
  } finally {
    await m.release();
  }
}

describe('weights stored in the graphs as external data pointing into model.safetensors', () => {
  it('the graphs carry references, not the weights (the file is never read into the JS heap)', () => {
    const bundle = loadClipWeights(resolveClipSource(tiny, { backend: 'graphs' }), {}, { byReference: true });
    expect(bundle.externalDir).toBe(tiny);
    const file = readFileSync(join(tiny, 'model.safetensors'));
    const proj = bundle.weights['visual_projection.weight']!;
    expect(proj.external?.location).toBe('model.safetensors');
    const at = proj.external!.offset;
    const fromFile = new Float32Array(
      file.buffer.slice(file.byteOffset + at, file.byteOffset + at + proj.external!.length),
    );
    expect(fromFile).toEqual(
      readSafetensors(join(tiny, 'model.safetensors')).tensors['visual_projection.weight']!.data,
    );
    const graph = visionTowerVjpModel(bundle.arch.vision, { weights: bundle.weights });
    const copied = visionTowerVjpModel(bundle.arch.vision, {
      weights: readSafetensors(join(tiny, 'model.safetensors')).tensors,
    });
    // the vision weights of tiny-clip are most of the copied graph; the referencing graph holds none of them
    expect(graph.length).toBeLessThan(copied.length / 4);
  });

  it('tiny-clip: image and text features are bit-identical to weights copied into the graphs', async () => {
    const ext = await embeds(tiny, { externalData: true, gradients: false });
    const copied = await embeds(tiny, { externalData: false, gradients: false });
    expect(ext.image).toEqual(copied.image);
    expect(ext.text).toEqual(copied.text);
    // and the graphs with gradients (HESP) too: the forward with residuals gives the same embeddings
    const grads = await embeds(tiny, { externalData: true, gradients: true });
    const gradsCopied = await embeds(tiny, { externalData: false, gradients: true });
    expect(grads.image).toEqual(gradsCopied.image);
  });

  it('weights fed and weights stored round differently, so the feature recipe tells them apart', async () => {
    for (const gradients of [false, true]) {
      const recipes: string[][] = [];
      const images: Float32Array[] = [];
      for (const weightsIn of ['inputs', 'graph'] as const) {
        const m = await ClipGradientModel.load(tiny, { weightsIn, gradients });
        try {
          recipes.push([m.forwardGraphs.vision, m.forwardGraphs.text]);
          images.push((await m.visionForwardEmbeds(pixels(3, m.arch.vision.imageSize!))).data);
        } finally {
          await m.release();
        }
      }
      // prepacked (stored) weights take another matrix-product path: 59 of tiny-clip's 72 image feature values
      // differ in the last bits here (AVX2), so features of the two are not mixed in one cache namespace
      const fused = gradients ? 'standard' : 'ort-fused';
      expect(recipes).toEqual([
        [`vlfer-clip-graphs-2/${fused}`, 'vlfer-clip-graphs-2/ort-fused'],
        [`vlfer-clip-graphs-2/${fused}/stored-weights`, 'vlfer-clip-graphs-2/ort-fused/stored-weights'],
      ]);
      const [fed, stored] = images as [Float32Array, Float32Array];
      for (let i = 0; i < fed.length; i++) expect(Math.abs(fed[i]! - stored[i]!)).toBeLessThan(1e-5);
    }
  });

  it("loadClip's weightsIn: 'graph' stores them on a CPU (its own recipe, features within 1e-5 of fed ones); bad asks are refused", async () => {
    const encode = async (weightsIn?: 'inputs' | 'graph') => {
      const clip = await loadClip({
        model: tiny,
        backend: 'graphs',
        towers: ['vision'],
        ...(weightsIn ? { weightsIn } : {}),
      });
      try {
        const S = clip.preprocessor.cropSize;
        return { recipe: clip.featureRecipe, image: (await clip.encodePixels(pixels(3, S))).data };
      } finally {
        await clip.dispose();
      }
    };
    const [byDefault, fed, stored] = [await encode(), await encode('inputs'), await encode('graph')];
    expect([byDefault.recipe, fed.recipe, stored.recipe]).toEqual([
      'vlfer-clip-graphs-2/ort-fused',
      'vlfer-clip-graphs-2/ort-fused',
      'vlfer-clip-graphs-2/ort-fused/stored-weights',
    ]);
    expect(fed.image).toEqual(byDefault.image);
    expect(stored.image).not.toEqual(fed.image); // prepacked weights round differently (see the test above)
    for (let i = 0; i < fed.image.length; i++) expect(Math.abs(fed.image[i]! - stored.image[i]!)).toBeLessThan(1e-5);
    // a typo, the 'onnx' runtime (tiny-clip also has onnx/ graphs) and fed int8 weights are refused, naming weightsIn
    const load = (o: Partial<Parameters<typeof loadClip>[0]>) => loadClip({ model: tiny, towers: ['vision'], ...o });
    await expect(load({ backend: 'graphs', weightsIn: 'graphs' as 'graph' })).rejects.toThrow(
      /'weightsIn' passed to 'loadClip': expected one of 'inputs', 'graph', got 'graphs'/,
    );
    await expect(load({ backend: 'onnx', weightsIn: 'graph' })).rejects.toThrow(
      /'weightsIn' passed to 'loadClip': .*loads as ONNX graphs, which hold their own weights/,
    );
    // a Hub id: named as such, not told to pass a backend; backend 'graphs' with one is refused, not run on 'onnx'
    const hub = 'openai/clip-vit-base-patch32';
    await expect(loadClip({ model: hub, weightsIn: 'graph' })).rejects.toThrow(
      /'weightsIn' passed to 'loadClip': .*'openai\/clip-vit-base-patch32' is a Hub id, .*needs a local directory/,
    );
    await expect(loadClip({ model: hub, backend: 'graphs' })).rejects.toThrow(
      /backend 'graphs' needs a local directory with config\.json \+ model\.safetensors, or an OpenAI \.pt; 'openai\/clip-vit-base-patch32' is not a local path/,
    );
    await expect(ClipGradientModel.load(hub)).rejects.toThrow(
      /ClipGradientModel\.load builds its graphs from the weights: it needs a local directory/,
    );
    await expect(load({ dtype: 'int8', weightsIn: 'inputs' })).rejects.toThrow(
      /'weightsIn' passed to 'loadClip': 'inputs' is not possible with int8 layers/,
    );
    await expect(
      ClipGradientModel.load(tiny, { quantize: 'int8', gradients: false, weightsIn: 'inputs' }),
    ).rejects.toThrow(/'weightsIn' passed to 'ClipGradientModel\.load': 'inputs' is not possible with int8 layers/);
    await expect(ClipGradientModel.load(tiny, { quantize: 'int4' as 'int8', gradients: false })).rejects.toThrow(
      /'quantize' passed to 'ClipGradientModel\.load': expected one of 'int8', got 'int4'/,
    );
    await expect(ClipGradientModel.load(tiny, { weightsIn: 'input' as 'inputs' })).rejects.toThrow(
      /'weightsIn' passed to 'ClipGradientModel\.load': expected one of 'inputs', 'graph', got 'input'/,
    );
  });

  it('constant folding off (transposes fused into the MatMuls, not copied) leaves the features bit-identical', async () => {
    const bundle = loadClipWeights(resolveClipSource(tiny, { backend: 'graphs' }), {}, { byReference: true });
    // the forward graph as ClipGradientModel builds it on a CPU (ONNX Runtime's fused attention and QuickGELU)
    const graph = visionTowerVjpModel(bundle.arch.vision, {
      weights: bundle.weights,
      withGradient: false,
      ortFusedForward: true,
    });
    const S = bundle.arch.vision.imageSize!;
    const out = mkdtempSync(join(tmpdir(), 'vlfer-fold-'));
    const run = async (name: string, extra: Record<string, Record<string, string>>) => {
      const session = { model_external_initializers_file_folder_path: tiny };
      const optimizedModelFilePath = join(out, `${name}.onnx`); // the graph as optimized, to see what ORT did
      const s = await ort.InferenceSession.create(graph, {
        intraOpNumThreads: 1,
        optimizedModelFilePath,
        extra: { ...extra, session },
      });
      const p = pixels(3, S);
      const r = await s.run({ pixel_values: new ort.Tensor('float32', p.data, p.dims) });
      await s.release();
      return { embeds: r.image_embeds!.data as Float32Array, graph: readFileSync(optimizedModelFilePath, 'latin1') };
    };
    const folded = await run('folded', {});
    const fused = await run('fused', STORED_WEIGHTS_OPTIMIZATION);
    expect(folded.graph).not.toContain('FusedMatMul'); // each Transpose(W) became a transposed copy of W
    expect(fused.graph).toContain('FusedMatMul');
    expect(fused.embeds).toEqual(folded.embeds);
    // and the model's own sessions use that setting; `foldConstants: true` brings back the folding, same features
    expect((await embeds(tiny, { externalData: true, gradients: false })).image).toEqual(folded.embeds);
    const a = await embeds(tiny, { externalData: true, gradients: false, foldConstants: true });
    const b = await embeds(tiny, { externalData: true, gradients: false });
    expect(b).toEqual(a);
  });

  it('the gradient graphs too: the vision VJP is bit-identical with constant folding on and off', async () => {
    const vjp = async (foldConstants: boolean) => {
      const m = await ClipGradientModel.load(tiny, { weightsIn: 'graph', gradients: true, foldConstants });
      const S = m.arch.vision.imageSize!;
      const cot = Float32Array.from({ length: 2 * m.arch.vision.projectionDim }, (_, i) => Math.cos(i));
      const r = await m.visionVjp(pixels(2, S), {
        dtype: 'float32',
        data: cot,
        dims: [2, m.arch.vision.projectionDim],
      });
      await m.release();
      return r;
    };
    const [on, off] = [await vjp(true), await vjp(false)];
    expect(off.imageEmbeds.data).toEqual(on.imageEmbeds.data);
    expect(off.gradPixels.data).toEqual(on.gradPixels.data);
  });

  it('ready() creates every session at load time; the first batch then creates none', async () => {
    // the text sessions through onnxruntime-node, the vision gradient ones through ONNX Runtime's C API (directRuns)
    const create = vi.spyOn(ort.InferenceSession, 'create');
    const direct = vi.spyOn(DirectSession, 'create');
    try {
      const m = await ClipGradientModel.load(tiny, { weightsIn: 'graph', gradients: true });
      await m.ready();
      const counts = () => [create.mock.calls.length, direct.mock.calls.length];
      expect(counts()).toEqual(m.directRuns ? [2, 2] : [4, 0]);
      await m.visionForwardEmbeds(pixels(1, m.arch.vision.imageSize!));
      expect(counts()).toEqual(m.directRuns ? [2, 2] : [4, 0]);
      await m.release();
    } finally {
      create.mockRestore();
      direct.mockRestore();
    }
  });

  it('a BF16 file falls back to copying the converted weights, saying why, with the same features', async () => {
    const dir = tinyCopy(writeBf16);
    const log: string[] = [];
    const viaFallback = await embeds(dir, { gradients: false, log: (l) => log.push(l) });
    expect(log.join('\n')).toMatch(/model\.safetensors: weights copied into the graphs.*is BF16, converted to float32/);
    const copied = await embeds(dir, { externalData: false, gradients: false });
    expect(viaFallback.image).toEqual(copied.image);
    expect(viaFallback.text).toEqual(copied.text);
  });

  it('by default the gradient graphs store float32 weights on a CPU; forward-only models and converted files feed them', async () => {
    const recipes = async (dir: string, options: Parameters<typeof ClipGradientModel.load>[1]) => {
      const log: string[] = [];
      const m = await ClipGradientModel.load(dir, { ...options, log: (l) => log.push(l) });
      await m.release();
      return { ...m.forwardGraphs, log, readByReference: m.bundle.weightsMapped !== undefined };
    };
    // float32 model.safetensors: ONNX Runtime reads the stored weights from the file and prepacks them
    const fed = { vision: 'vlfer-clip-graphs-2/standard', text: 'vlfer-clip-graphs-2/ort-fused', log: [] };
    expect(await recipes(tiny, {})).toEqual({
      vision: 'vlfer-clip-graphs-2/standard/stored-weights',
      text: 'vlfer-clip-graphs-2/ort-fused/stored-weights',
      log: [],
      readByReference: true,
    });
    expect(await recipes(tiny, { gradients: false })).toEqual({
      vision: 'vlfer-clip-graphs-2/ort-fused',
      text: 'vlfer-clip-graphs-2/ort-fused',
      log: [],
      readByReference: true,
    });
    // externalData: false (no stored weights read from the file): fed, still read by reference, not into the heap
    expect(await recipes(tiny, { externalData: false })).toEqual({ ...fed, readByReference: true });
    // ... and stored, copied into the graphs, when asked for
    expect(await recipes(tiny, { externalData: false, weightsIn: 'graph' })).toMatchObject({
      vision: 'vlfer-clip-graphs-2/standard/stored-weights',
      readByReference: false,
    });
    // a BF16 file would be converted and copied into the graphs: fed instead, nothing copied, nothing to say
    expect(await recipes(tinyCopy(writeBf16), {})).toMatchObject(fed);
    expect(defaultWeightsIn('cpu')).toBe('graph');
    expect(defaultWeightsIn('cpu', false)).toBe('inputs');
    expect(defaultWeightsIn('webgpu', false)).toBe('graph');
  });

  it('a truncated model.safetensors is refused at load, naming the file and the tensor cut off', async () => {
    const dir = tinyCopy((f) => truncateSync(f, readFileSync(f).length - 4));
    const load = ClipGradientModel.load(dir, { weightsIn: 'graph', gradients: false });
    await expect(load).rejects.toThrow(DataFormatError);
    await expect(ClipGradientModel.load(dir, { weightsIn: 'graph', gradients: false })).rejects.toThrow(
      /model\.safetensors.*run past the end of the file/,
    );
  });

  it('a config.json with fewer layers than model.safetensors holds is refused (the extra layers were left unused)', async () => {
    const dir = tinyCopy();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    cfg.vision_config.num_hidden_layers = 1;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    await expect(loadClip({ model: dir, backend: 'graphs', towers: ['vision'] })).rejects.toThrow(
      `${join(dir, 'config.json')} (field 'vision_config.num_hidden_layers'): is 1, but ${join(dir, 'model.safetensors')} holds 2 layers (vision_model.encoder.layers.0 … vision_model.encoder.layers.1): the config and the weights come from different models`,
    );
  });

  it("a preprocessor crop other than config.json's image_size is refused at load (it failed at the first encode)", async () => {
    const dir = tinyCopy();
    const pp = JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8'));
    pp.crop_size = { height: 32, width: 32 };
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(pp));
    await expect(loadClip({ model: dir, backend: 'graphs', towers: ['vision'] })).rejects.toThrow(
      `${join(dir, 'preprocessor_config.json')} (field 'crop_size'): crops to 32 pixels, but config.json's vision_config.image_size is 224`,
    );
    const onnxOnly = mkdtempSync(join(tmpdir(), 'vlfer-onnx-only-'));
    copyWritable(join(tiny, 'onnx'), join(onnxOnly, 'onnx'));
    await expect(ClipGradientModel.load(onnxOnly)).rejects.toThrow(
      `${onnxOnly} has no config.json + model.safetensors, which ClipGradientModel.load needs`,
    );
  });

  it('a modified model.safetensors fails its checksum and changes the content fingerprint', async () => {
    const want = hashFile(join(tiny, 'model.safetensors'));
    const dir = tinyCopy((f) => {
      const b = readFileSync(f);
      b[b.length - 1] = b[b.length - 1]! ^ 0x01; // one bit of the last weight
      writeFileSync(f, b);
    });
    await expect(
      loadClip({ model: dir, backend: 'graphs', towers: ['vision'], checksums: { 'model.safetensors': want } }),
    ).rejects.toThrow(/Checksum mismatch for .*model\.safetensors/);
    const a = await loadClip({ model: tiny, backend: 'graphs', towers: ['vision'] });
    const b = await loadClip({ model: dir, backend: 'graphs', towers: ['vision'] });
    expect(a.contentFingerprint()).not.toBe(b.contentFingerprint());
    await a.dispose();
    await b.dispose();
  });
});

describe('lazy towers: a session is created when its tower is first used', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(['inputs', 'graph'] as const)(
    'weights as %s: load creates no session; images alone create one',
    async (w) => {
      const create = vi.spyOn(ort.InferenceSession, 'create');
      const m = await ClipGradientModel.load(tiny, { weightsIn: w, gradients: false });
      expect(create).toHaveBeenCalledTimes(0);
      const S = m.arch.vision.imageSize!;
      // two encodes at once share the one session being created
      await Promise.all([m.visionForwardEmbeds(pixels(2, S)), m.visionForwardEmbeds(pixels(1, S))]);
      expect(create).toHaveBeenCalledTimes(1);
      await m.release();
    },
  );

  it('a weight missing from the file still fails the load, before any tower is used', async () => {
    const dir = tinyCopy((f) => {
      const { ['text_projection.weight']: _gone, ...rest } = readSafetensors(f).tensors;
      writeSafetensors(f, rest);
    });
    for (const weightsIn of ['inputs', 'graph'] as const)
      await expect(ClipGradientModel.load(dir, { weightsIn, gradients: false })).rejects.toThrow(
        /model\.safetensors.*text_projection\.weight.*weight missing/,
      );
  });

  it('a weight of another shape fails the load too, naming the file, the tensor and both shapes', async () => {
    let dims: [number, number] = [0, 0];
    const dir = tinyCopy((f) => {
      const t = readSafetensors(f).tensors;
      const proj = t['text_projection.weight']!;
      dims = proj.dims as [number, number];
      const cut = { dims: [dims[0], dims[1] - 1], data: proj.data.slice(0, dims[0] * (dims[1] - 1)) };
      writeSafetensors(f, { ...t, 'text_projection.weight': cut });
    });
    const [e, d] = dims;
    const want = new RegExp(
      `model\\.safetensors.*text_projection\\.weight.*has shape \\[${e}, ${d - 1}\\], the config implies \\[${e}, ${d}\\]`,
    );
    for (const weightsIn of ['inputs', 'graph'] as const)
      await expect(ClipGradientModel.load(dir, { weightsIn, gradients: false })).rejects.toThrow(want);
  });

  it('load builds no graph: each is built when its session is created (int8 weights quantized then, not at load)', async () => {
    const quantized: string[] = [];
    const m = await ClipGradientModel.load(tiny, {
      quantize: 'int8',
      gradients: false,
      int8ScalesHook: (key) => quantized.push(key),
    });
    try {
      expect(quantized).toEqual([]);
      await m.visionForwardEmbeds(pixels(1, m.arch.vision.imageSize!));
      expect(quantized).toContain('visual_projection.weight');
      expect(quantized).not.toContain('text_projection.weight'); // the text tower's graph is still not built
      await m.ready();
      expect(quantized).toContain('text_projection.weight');
    } finally {
      await m.release();
    }
  });

  it('a model.safetensors changed between the load and first use is refused, not read', async () => {
    const dir = tinyCopy();
    const m = await ClipGradientModel.load(dir, { weightsIn: 'graph', gradients: false });
    const f = join(dir, 'model.safetensors');
    utimesSync(f, new Date(0), new Date(0)); // as a copy over it would: another modification time
    await expect(m.visionForwardEmbeds(pixels(1, m.arch.vision.imageSize!))).rejects.toThrow(
      /model\.safetensors.*changed since its header was read/,
    );
    await m.release();
  });
});

describe.runIf(process.platform === 'linux' || process.platform === 'darwin')(
  'weights fed from a memory map (mapWeights)',
  () => {
    it('tiny-clip: the mapped weights equal the read ones, are views of one map of the whole file, and give bit-identical features', async () => {
      const source = resolveClipSource(tiny, { backend: 'graphs' });
      const mapped = loadClipWeights(source, { mapWeights: true }, { byReference: true }).weights;
      const read = loadClipWeights(source, { mapWeights: false }, { byReference: true }).weights;
      const size = readFileSync(join(tiny, 'model.safetensors')).length;
      const keys = Object.keys(read);
      expect(keys.length).toBeGreaterThan(10);
      const buffers = new Set<ArrayBufferLike>();
      for (const k of keys) {
        const a = mapped[k]!.data;
        const b = read[k]!.data;
        const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
        expect(a.length, k).toBe(b.length);
        expect(Buffer.compare(bytes(a), bytes(b)), k).toBe(0);
        expect(a.buffer.byteLength, k).toBe(size);
        expect(b.buffer.byteLength, k).toBe(b.byteLength);
        buffers.add(a.buffer);
      }
      expect(buffers.size).toBe(1);

      const features = async (mapWeights: boolean) => {
        const m = await ClipGradientModel.load(tiny, { weightsIn: 'inputs', gradients: false, mapWeights });
        try {
          expect(m.bundle.weightsMapped?.()).toBe(mapWeights);
          const S = m.arch.vision.imageSize!;
          const image = await m.visionForwardEmbeds(pixels(2, S));
          const ids = [49406, 320, 1125, 49407, 49407, 49406, 518, 49407, 49407, 49407];
          const text = await m.textForwardEmbeds(m.tokenEmbeddings(ids, [2, 5]), [3, 2]);
          return { image: [...image.data], text: [...text.data] };
        } finally {
          await m.release();
        }
      };
      expect(await features(true)).toEqual(await features(false));
    });

    it('the map is of the file whose header was read: a file renamed over the path first is refused', () => {
      const dir = tinyCopy();
      const f = join(dir, 'model.safetensors');
      const index = openSafetensorsFile(f);
      copyWritable(f, `${f}.new`);
      renameSync(`${f}.new`, f);
      expect(() => mapFilePrivate(f, (fd) => index.checkUnchanged(fd))).toThrow(
        /model\.safetensors.*changed since its header was read/,
      );
    });

    it('runs check the mapped file, not the path: a file renamed over it changes nothing, the mapped file rewritten in place is refused by runs and by JavaScript reads', async () => {
      const dir = tinyCopy();
      const f = join(dir, 'model.safetensors');
      const m = await ClipGradientModel.load(dir, { weightsIn: 'inputs', gradients: false });
      try {
        const px = pixels(1, m.arch.vision.imageSize!);
        const ids = [49406, 320, 49407];
        const before = [...(await m.visionForwardEmbeds(px)).data];
        const tokens = [...m.tokenEmbeddings(ids, [1, 3]).data];
        // a second name for the mapped file, then a new file (other bytes, other inode) renamed over the path
        linkSync(f, join(dir, 'mapped.safetensors'));
        const other = readFileSync(f);
        other.fill(0x3f, other.length - 4096);
        writeFileSync(`${f}.new`, other);
        renameSync(`${f}.new`, f);
        expect([...(await m.visionForwardEmbeds(px)).data]).toEqual(before);
        expect([...m.tokenEmbeddings(ids, [1, 3]).data]).toEqual(tokens);
        // the mapped file itself changed (here its modification time, as a write in place would change it)
        utimesSync(join(dir, 'mapped.safetensors'), new Date(2e12), new Date(2e12));
        const changed = /model\.safetensors.*changed since its header was read/;
        await expect(m.visionForwardEmbeds(px)).rejects.toThrow(changed);
        expect(() => m.tokenEmbeddings(ids, [1, 3])).toThrow(changed);
        expect(() => m.patchEmbeddings(px.data.subarray(0, px.data.length))).toThrow(changed);
      } finally {
        await m.release();
      }
    });
  },
);
