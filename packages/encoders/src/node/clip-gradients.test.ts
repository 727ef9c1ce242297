import { readFileSync } from 'node:fs';
import { tensor2d } from '@vlfer/core';
import { loadReferences, maxRelErr, referencePixels, sharedPath } from '@vlfer/test-utils';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClipGradientModel, visionRuns, type Tensor3D } from './clip-gradients.js';
import { textVjpParity, visionVjpParity } from './clip-gradients.reference.js';

const ref = loadReferences();
const models: Record<'inputs' | 'graph', ClipGradientModel> = {} as never;
beforeAll(async () => {
  for (const w of ['inputs', 'graph'] as const)
    models[w] = await ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), { weightsIn: w });
});
afterAll(async () => {
  for (const m of Object.values(models)) await m.release();
});

describe.each(['inputs', 'graph'] as const)(
  'CLIP VJP graphs vs PyTorch autograd (tiny-clip, weights as %s), 1e-4 relative',
  (weightsIn) => {
    const m = () => models[weightsIn];
    it('vision: image_embeds and grad of sum(image_embeds·v) w.r.t. pixel_values', async () => {
      const e = await visionVjpParity(m());
      console.log(`[${weightsIn}] vision grad_pixel_values max rel err ${e.grad.toExponential(2)}`);
      expect(e.embeds).toBeLessThan(1e-4);
      expect(e.grad).toBeLessThan(1e-4);
    });
    it('text (CoOp): text_embeds and grad w.r.t. context vectors at positions 1..4', async () => {
      const e = await textVjpParity(m());
      console.log(`[${weightsIn}] text grad_context max rel err ${e.grad.toExponential(2)}`);
      expect(e.embeds).toBeLessThan(1e-4);
      expect(e.grad).toBeLessThan(1e-4);
    });
  },
);

describe.each(['inputs', 'graph'] as const)('forward-only graphs (weights as %s)', (weightsIn) => {
  const m = () => models[weightsIn];
  it('give the same embeddings as the VJP graphs', async () => {
    const px = referencePixels();
    const fwd = await m().visionForwardEmbeds(px, 1);
    expect(maxRelErr(fwd.data, ref.vision.image_embeds.flat())).toBeLessThan(1e-4);
    const emb = m().tokenEmbeddings(ref.text.input_ids.flat(), [3, 77]);
    const t = await m().textForwardEmbeds(
      emb,
      ref.text.input_ids.map((row: number[]) => row.indexOf(49407)),
    );
    expect(maxRelErr(t.data, ref.text.text_embeds.flat())).toBeLessThan(1e-4);
  });
});

describe('vision runs (chunk)', () => {
  it('visionRuns: runs of chunk in order, a last run of one joins the one before; a bad chunk is refused', () => {
    const sizes = (n: number, c: number) => visionRuns(n, c).map((r) => `${r.start}+${r.n}`);
    expect(sizes(6, 16)).toEqual(['0+6']);
    expect(sizes(6, 4)).toEqual(['0+4', '4+2']);
    expect(sizes(6, 5)).toEqual(['0+6']);
    expect(sizes(17, 16)).toEqual(['0+17']);
    expect(sizes(33, 16)).toEqual(['0+16', '16+17']);
    expect(sizes(1, 16)).toEqual(['0+1']);
    expect(sizes(3, 1)).toEqual(['0+1', '1+1', '2+1']); // chunk 1: runs of one by request
    expect(sizes(0, 4)).toEqual([]);
    expect(visionRuns(17, 16, 'f', false).map((r) => r.n)).toEqual([16, 1]); // int8: runs as they fall
    for (const n of [-1, 2.5, NaN, Infinity])
      expect(() => visionRuns(n, 2)).toThrow(
        `Argument 'n' passed to 'visionRuns': expected a non-negative integer, got ${n}`,
      );
    for (const c of [0, 1.5, -2, NaN])
      expect(() => visionRuns(4, c, 'visionForwardEmbeds')).toThrow(
        `Argument 'chunk' passed to 'visionForwardEmbeds': expected a positive integer, got ${c}`,
      );
  });
  it('embeddings are the same bits for every chunk from 2 on; the CPU default is 16', async () => {
    const m = models.inputs;
    expect(m.visionChunk).toBe(16);
    const S = m.arch.vision.imageSize!;
    const px = {
      dtype: 'float32' as const,
      data: new Float32Array(5 * 3 * S * S),
      dims: [5, 3, S, S] as [number, number, number, number],
    };
    for (let i = 0; i < px.data.length; i++) px.data[i] = Math.sin(i * 0.013);
    const all = await m.visionForwardEmbeds(px);
    for (const chunk of [2, 3, 4]) expect((await m.visionForwardEmbeds(px, chunk)).data).toEqual(all.data);
    await expect(m.visionForwardEmbeds(px, 0)).rejects.toThrow(/'chunk'.*expected a positive integer, got 0/);
  });
  it('int8 towers keep runs of 64, split as they fall: an int8 embedding depends on the images in its run', async () => {
    const q = await ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), { quantize: 'int8', gradients: false });
    try {
      expect(q.visionChunk).toBe(64);
      const S = q.arch.vision.imageSize!;
      const per = 3 * S * S;
      const data = Float32Array.from({ length: 3 * per }, (_, i) => Math.sin(i * 0.013));
      const px = (from: number, to: number) => ({
        dtype: 'float32' as const,
        data: data.subarray(from * per, to * per),
        dims: [to - from, 3, S, S] as [number, number, number, number],
      });
      const E = q.arch.vision.projectionDim;
      const whole = (await q.visionForwardEmbeds(px(0, 3))).data;
      const runs = (await q.visionForwardEmbeds(px(0, 3), 2)).data; // 2 + 1, not joined
      expect(runs.subarray(0, 2 * E)).toEqual((await q.visionForwardEmbeds(px(0, 2))).data);
      expect(runs.subarray(2 * E)).toEqual((await q.visionForwardEmbeds(px(2, 3))).data);
      expect(runs).not.toEqual(whole); // activations quantized per run
    } finally {
      await q.release();
    }
  });
});

describe('text graphs at any sequence length up to the position table', () => {
  it('a prompt cut after its end token gives the embeddings and gradient it has inside 77 tokens; 78 is refused', async () => {
    const m = models.inputs;
    const D = m.arch.text.hiddenSize;
    const E = m.arch.text.projectionDim;
    const ids = ref.text.input_ids.flat() as number[];
    const eot = ref.text.input_ids.map((row: number[]) => row.indexOf(49407)) as number[];
    const full = m.tokenEmbeddings(ids, [3, 77]); // [3, 77, D]
    const L = Math.max(...eot) + 1; // every prompt's end token inside the first L positions
    expect(L).toBeLessThan(77);
    /** the first L of 77 tokens of each of the 3 sequences: [3, 77, D] → [3, L, D] */
    const firstL = (data: Float32Array) => {
      const cut = new Float32Array(3 * L * D);
      for (let b = 0; b < 3; b++) cut.set(data.subarray(b * 77 * D, (b * 77 + L) * D), b * L * D);
      return cut;
    };
    const short = { dtype: 'float32' as const, data: firstL(full.data), dims: [3, L, D] as [number, number, number] };
    const cot = tensor2d(Array.from({ length: 3 }, (_, b) => Array.from({ length: E }, (_, j) => Math.cos(b + j))));
    // causal attention: what a token sees does not depend on the tokens after it, so the end token's output is the
    // same whether the padding after it is there or not (positions 0..L-1 in both)
    const [a77, aL] = [await m.textForwardEmbeds(full, eot), await m.textForwardEmbeds(short, eot)];
    expect(maxRelErr(aL.data, a77.data)).toBeLessThan(1e-5);
    const [v77, vL] = [await m.textVjp(full, eot, cot), await m.textVjp(short, eot, cot)];
    expect(maxRelErr(vL.textEmbeds.data, v77.textEmbeds.data)).toBeLessThan(1e-5);
    expect(maxRelErr(vL.gradInputsEmbeds.data, firstL(v77.gradInputsEmbeds.data))).toBeLessThan(1e-5);
    const long = {
      dtype: 'float32' as const,
      data: new Float32Array(78 * D),
      dims: [1, 78, D] as [number, number, number],
    };
    await expect(m.textForwardEmbeds(long, [77])).rejects.toThrow(
      /inputsEmbeds.*78 tokens.*position embeddings for 77/,
    );
    await expect(m.textVjp(long, [77], tensor2d([Array(E).fill(0)]))).rejects.toThrow(/78 tokens/);
  });
});

/** Records the dims of `inputs_embeds` of every ONNX Runtime run (the text graphs' input) into `seen`. */
function spyOnTextRuns(seen: number[][]) {
  const proto = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
  const run = proto.run;
  return vi.spyOn(proto, 'run').mockImplementation(function (
    this: ort.InferenceSession,
    ...args: Parameters<typeof run>
  ) {
    seen.push([...(args[0] as Record<string, ort.Tensor>).inputs_embeds!.dims]);
    return run.apply(this, args);
  });
}

describe('text runs stop at the last end token', () => {
  it('prompts run on their first max(eot) + 1 positions: the same text_embeds bits as a run of all 77, zero gradient after', async () => {
    const m = models.inputs;
    const D = m.arch.text.hiddenSize;
    const E = m.arch.text.projectionDim;
    const row = (n: number, k: number) => {
      const r = [49406, ...Array.from({ length: n - 2 }, (_, j) => 400 + 37 * j + k), 49407];
      return [...r, ...Array<number>(77 - r.length).fill(0)];
    };
    // two short prompts (end tokens at 5 and 9), and the same two with a third whose end token is the last position
    const ids2 = [...row(6, 0), ...row(10, 1)];
    const ids3 = [...ids2, ...row(77, 2)];
    const eot3 = [5, 9, 76];
    const cot = tensor2d(
      Array.from({ length: 3 }, (_, b) => Array.from({ length: E }, (_, j) => Math.sin(b + 0.3 * j))),
    );
    const cot2 = { ...cot, data: cot.data.subarray(0, 2 * E), dims: [2, E] as [number, number] };
    const seen: number[][] = [];
    const spy = spyOnTextRuns(seen);
    try {
      const cut = await m.textForwardEmbeds(m.tokenEmbeddings(ids2, [2, 77]), [5, 9]);
      const all = await m.textForwardEmbeds(m.tokenEmbeddings(ids3, [3, 77]), eot3);
      const vCut = await m.textVjp(m.tokenEmbeddings(ids2, [2, 77]), [5, 9], cot2);
      const vAll = await m.textVjp(m.tokenEmbeddings(ids3, [3, 77]), eot3, cot);
      expect(seen).toEqual([
        [2, 10, D],
        [3, 77, D],
        [2, 10, D],
        [3, 77, D],
      ]);
      expect(cut.data).toEqual(all.data.subarray(0, 2 * E));
      expect(vCut.textEmbeds.data).toEqual(vAll.textEmbeds.data.subarray(0, 2 * E));
      // the gradient comes back at the caller's 77 positions: zero after the end token, as in the full run
      expect(vCut.gradInputsEmbeds.dims).toEqual([2, 77, D]);
      const g = vCut.gradInputsEmbeds.data;
      const gAll = vAll.gradInputsEmbeds.data.subarray(0, 2 * 77 * D);
      expect(g.subarray(10 * D, 77 * D).every((x) => x === 0)).toBe(true);
      expect(g.subarray((77 + 10) * D).every((x) => x === 0)).toBe(true);
      expect(gAll.subarray((77 + 10) * D).every((x) => x === 0)).toBe(true);
      expect(maxRelErr(g, gAll)).toBeLessThan(1e-5);
      // one prompt ending at position 0 still runs 2 positions: one token row would take another product path.
      // Against the same prompt run on all 77 positions (textRun replaced by one that keeps every position)
      const end0 = m.tokenEmbeddings([49407, ...Array<number>(76).fill(0)], [1, 77]);
      seen.length = 0;
      const one = await m.textForwardEmbeds(end0, [0]);
      const keepAll = vi
        .spyOn(m as unknown as { textRun: (x: Tensor3D, eot: readonly number[]) => unknown }, 'textRun')
        .mockImplementation((x, eot) => {
          const [b, l, d] = x.dims;
          const onehot = new Float32Array(b * l);
          eot.forEach((p, i) => (onehot[i * l + p] = 1));
          return {
            inputs: new ort.Tensor('float32', x.data, [b, l, d]),
            eot: new ort.Tensor('float32', onehot, [b, l]),
            kept: l,
          };
        });
      const whole = await m.textForwardEmbeds(end0, [0]);
      keepAll.mockRestore();
      expect(seen).toEqual([
        [1, 2, D],
        [1, 77, D],
      ]);
      expect(one.data).toEqual(whole.data);
    } finally {
      spy.mockRestore();
    }
  });

  it("int8 towers keep all 77 positions (the padding takes part in each run's quantization scale)", async () => {
    const q = await ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), {
      quantize: 'int8',
      gradients: false,
      towers: ['text'],
    });
    const dims: number[][] = [];
    const spy = spyOnTextRuns(dims);
    try {
      const ids = [49406, 320, 49407, ...Array<number>(74).fill(0)];
      await q.textForwardEmbeds(q.tokenEmbeddings(ids, [1, 77]), [2]);
      expect(dims).toEqual([[1, 77, q.arch.text.hiddenSize]]);
    } finally {
      spy.mockRestore();
      await q.release();
    }
  });
});

describe('weights stored in the graphs', () => {
  it('name the missing or misshapen key and the file', async () => {
    const { clipArchFromConfig, visionTowerVjpModel } = await import('../index.js');
    const { readSafetensors } = await import('@vlfer/core/node');
    const dir = sharedPath('fixtures', 'tiny-clip');
    const arch = clipArchFromConfig(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')));
    const w = readSafetensors(`${dir}/model.safetensors`).tensors;
    const { ['visual_projection.weight']: proj, ...rest } = w;
    expect(() => visionTowerVjpModel(arch.vision, { weights: rest, weightsFile: 'x.safetensors' })).toThrow(
      /x\.safetensors.*visual_projection\.weight.*weight missing/,
    );
    const bad = { ...w, 'visual_projection.weight': { dims: [proj!.dims[1]!, proj!.dims[0]!], data: proj!.data } };
    expect(() => visionTowerVjpModel(arch.vision, { weights: bad })).toThrow(
      /visual_projection\.weight.*has shape \[48, 24\], the config implies \[24, 48\]/,
    );
  });
});

describe('one vision forward per step: forward-with-residuals + backward = the one-graph VJP', () => {
  it('visionForwardResiduals then visionBackward give the embeddings and gradient of visionTowerVjpModel (tiny-clip)', async () => {
    const { visionTowerVjpModel } = await import('../clip-graphs.js');
    const { loadClipWeights, resolveClipSource } = await import('./clip-source.js');
    const ort = await import('onnxruntime-node');
    const bundle = loadClipWeights(resolveClipSource(sharedPath('fixtures', 'tiny-clip'), { backend: 'graphs' }), {});
    const session = await ort.InferenceSession.create(
      visionTowerVjpModel(bundle.arch.vision, { weights: bundle.weights }),
    );
    const pixels = referencePixels();
    const cot = tensor2d(ref.vision.cotangent_v);
    const one = await session.run({
      pixel_values: new ort.Tensor('float32', pixels.data, [...pixels.dims]),
      cotangent: new ort.Tensor('float32', cot.data, [...cot.dims]),
    });
    await session.release();
    const m = models.inputs;
    const { imageEmbeds, residuals } = await m.visionForwardResiduals(pixels);
    expect(Object.keys(residuals.tensors).length).toBe(6 + 11 * bundle.arch.vision.numLayers); // pre, post LN (x, mean, 1/σ) and 11 per layer
    // the last layer ran its query, attention output and MLP for the class token only, keys and values for all tokens
    const { numLayers, intermediateSize, imageSize, patchSize } = bundle.arch.vision;
    const tokens = (imageSize! / patchSize!) ** 2 + 1;
    expect(residuals.tensors[`res_${numLayers - 1}_z`]!.dims).toEqual([2, 1, intermediateSize]);
    expect(residuals.tensors[`res_${numLayers - 1}_p`]!.dims.slice(2)).toEqual([1, tokens]);
    expect(residuals.tensors[`res_${numLayers - 1}_k`]!.dims[2]).toBe(tokens);
    expect(residuals.tensors.res_0_z!.dims).toEqual([2, tokens, intermediateSize]);
    const grad = await m.visionBackward(residuals, cot);
    expect(maxRelErr(imageEmbeds.data, one.image_embeds!.data as Float32Array)).toBeLessThan(1e-6);
    expect(maxRelErr(grad.data, one.grad_pixel_values!.data as Float32Array)).toBeLessThan(1e-5);
    await expect(m.visionBackward(residuals, tensor2d([[1, 2]]))).rejects.toThrow(/cotangent/);
    await expect(m.visionBackward(residuals, cot)).rejects.toThrow(/already used by an earlier visionBackward/);
    // the next forward of the same batch size writes into the buffers the backward gave back, with the same results
    const again = await m.visionForwardResiduals(pixels);
    expect(again.residuals.tensors.res_pre_x!.data).toBe(residuals.tensors.res_pre_x!.data);
    expect(maxRelErr((await m.visionBackward(again.residuals, cot)).data, grad.data)).toBe(0);
    expect(maxRelErr(again.imageEmbeds.data, imageEmbeds.data)).toBe(0);
  });
  it('residuals that reach no backward are counted, let go by disposeResiduals or release, and then refused', async () => {
    const m = await ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), { towers: ['vision'] });
    const pixels = referencePixels();
    const a = await m.visionForwardResiduals(pixels);
    const b = await m.visionForwardResiduals(pixels);
    expect(m.residualsHeld).toBe(2);
    m.disposeResiduals(a.residuals);
    m.disposeResiduals(a.residuals); // a second time does nothing
    expect(m.residualsHeld).toBe(1);
    await expect(m.visionBackward(a.residuals, tensor2d(ref.vision.cotangent_v))).rejects.toThrow(/already used/);
    // the disposed buffers serve the next forward of that batch size (on the CPU; a GPU frees them)
    const c = await m.visionForwardResiduals(pixels);
    expect(c.residuals.tensors.res_pre_x!.data).toBe(a.residuals.tensors.res_pre_x!.data);
    expect(m.residualsHeld).toBe(2);
    await m.release(); // b and c were never used: released with the sessions
    expect(m.residualsHeld).toBe(0);
    // a released model runs nothing: refused before the residuals are looked at
    await expect(m.visionBackward(b.residuals, tensor2d(ref.vision.cotangent_v))).rejects.toThrow(
      /the model was released/,
    );
  });
});

describe('clipGraphWeights: the weights a graph reads, listed by its own builders without building it', () => {
  const kinds = [
    'textVjp',
    'textForward',
    'visionVjp',
    'visionForward',
    'visionForwardResiduals',
    'visionBackward',
  ] as const;
  const FED = new Set(['inputs_embeds', 'eot_onehot', 'cotangent', 'pixel_values']);
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

  it.each(kinds)("%s: exactly the names and shapes of the built graph's weight inputs", async (kind) => {
    const { clipArchFromConfig, clipGraphModel, clipGraphWeights } = await import('../index.js');
    const dir = sharedPath('fixtures', 'tiny-clip');
    const arch = clipArchFromConfig(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')));
    const a = kind.startsWith('text') ? arch.text : arch.vision;
    const s = await ort.InferenceSession.create(clipGraphModel(kind, a)); // weights as graph inputs
    try {
      const inputs = s.inputMetadata
        .filter((m) => !FED.has(m.name) && !m.name.startsWith('res_'))
        .map((m) => ({ name: m.name, dims: m.isTensor ? m.shape : ['not a tensor'] }));
      const listed = clipGraphWeights(kind, a);
      expect(listed.length).toBeGreaterThan(0);
      expect(new Set(listed.map((w) => w.name)).size).toBe(listed.length);
      expect([...listed].sort(byName)).toEqual(inputs.sort(byName));
    } finally {
      await s.release();
    }
  });

  it('the vision backward with stored weights multiplies by q, k and v weights one at a time, concatenating none', async () => {
    const { clipGraphModel } = await import('../index.js');
    const { loadClipWeights, resolveClipSource } = await import('./clip-source.js');
    const dir = sharedPath('fixtures', 'tiny-clip');
    const { arch, weights } = loadClipWeights(
      resolveClipSource(dir, { backend: 'graphs' }),
      {},
      { byReference: false },
    );
    const concats = (b: Uint8Array) =>
      Buffer.from(b)
        .toString('latin1')
        .match(/Concat_\d+/g)?.length ?? 0;
    const fed = concats(clipGraphModel('visionBackward', arch.vision));
    const stored = concats(clipGraphModel('visionBackward', arch.vision, { weights }));
    // fed: per layer, the head gradients and the weights concatenated for one product (two Concats)
    expect(fed - stored).toBe(2 * arch.vision.numLayers);
  });

  it('ortFusedForward: forward graphs with MultiHeadAttention and QuickGelu read the same weights and give the features of the standard graph within 1e-5; graphs with a backward ignore it', async () => {
    const { clipArchFromConfig, clipGraphModel, clipGraphWeights } = await import('../index.js');
    const { loadClipWeights, resolveClipSource } = await import('./clip-source.js');
    const dir = sharedPath('fixtures', 'tiny-clip');
    const { arch, weights } = loadClipWeights(
      resolveClipSource(dir, { backend: 'graphs' }),
      {},
      { byReference: false },
    );
    const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1');
    const S = arch.vision.imageSize!;
    const feeds = {
      textForward: {
        inputs_embeds: new ort.Tensor(
          'float32',
          Float32Array.from({ length: 2 * 7 * arch.text.hiddenSize }, (_, i) => Math.sin(0.37 * i)),
          [2, 7, arch.text.hiddenSize],
        ),
        eot_onehot: new ort.Tensor(
          'float32',
          Float32Array.from({ length: 14 }, (_, i) => +(i === 6 || i === 10)),
          [2, 7],
        ),
      },
      visionForward: {
        pixel_values: new ort.Tensor(
          'float32',
          Float32Array.from({ length: 2 * 3 * S * S }, (_, i) => Math.sin(0.01 * i)),
          [2, 3, S, S],
        ),
      },
    };
    for (const kind of ['textForward', 'visionForward'] as const) {
      const a = kind === 'textForward' ? arch.text : arch.vision;
      const fusedGraph = latin1(clipGraphModel(kind, a, { ortFusedForward: true }));
      expect(fusedGraph).toContain('MultiHeadAttention');
      expect(fusedGraph).toContain('QuickGelu');
      expect(fusedGraph).not.toContain('Softmax');
      expect(latin1(clipGraphModel(kind, a))).not.toContain('MultiHeadAttention');
      const listed = clipGraphWeights(kind, a, { ortFusedForward: true });
      expect([...listed].sort(byName)).toEqual([...clipGraphWeights(kind, a)].sort(byName));
      const out: Float32Array[] = [];
      for (const ortFusedForward of [false, true]) {
        const s = await ort.InferenceSession.create(clipGraphModel(kind, a, { weights, ortFusedForward }));
        try {
          const r = await s.run(feeds[kind]);
          out.push(r[s.outputNames[0]!]!.data as Float32Array);
        } finally {
          await s.release();
        }
      }
      expect(out[1]!.length).toBe(2 * a.projectionDim);
      expect(maxRelErr(out[1]!, out[0]!)).toBeLessThan(1e-5);
    }
    for (const kind of ['textVjp', 'visionVjp', 'visionForwardResiduals'] as const) {
      const a = kind === 'textVjp' ? arch.text : arch.vision;
      expect(clipGraphModel(kind, a, { ortFusedForward: true })).toEqual(clipGraphModel(kind, a));
    }
  });

  it('ClipGradientModel.forwardGraphs names the graphs behind visionForwardEmbeds and textForwardEmbeds', async () => {
    // with gradients the vision embeddings come from the forward with residuals (standard layers)
    expect(models.inputs.forwardGraphs).toEqual({
      vision: 'vlfer-clip-graphs-2/standard',
      text: 'vlfer-clip-graphs-2/ort-fused',
    });
    const forward = await ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), { gradients: false });
    try {
      expect(forward.forwardGraphs).toEqual({
        vision: 'vlfer-clip-graphs-2/ort-fused',
        text: 'vlfer-clip-graphs-2/ort-fused',
      });
    } finally {
      await forward.release();
    }
  });

  it("int8 forward graphs read the same weights; with the file's weights each is checked, naming the file", async () => {
    const { clipArchFromConfig, clipGraphWeights } = await import('../index.js');
    const { readSafetensors } = await import('@vlfer/core/node');
    const dir = sharedPath('fixtures', 'tiny-clip');
    const arch = clipArchFromConfig(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')));
    for (const kind of ['textForward', 'visionForward'] as const) {
      const a = kind === 'textForward' ? arch.text : arch.vision;
      const int8 = clipGraphWeights(kind, a, { quantize: 'int8' });
      expect([...int8].sort(byName)).toEqual([...clipGraphWeights(kind, a)].sort(byName));
    }
    const w = readSafetensors(`${dir}/model.safetensors`).tensors;
    expect(clipGraphWeights('visionBackward', arch.vision, { weights: w }).length).toBeGreaterThan(0);
    const { ['vision_model.post_layernorm.weight']: _gone, ...rest } = w;
    expect(() =>
      clipGraphWeights('visionBackward', arch.vision, { weights: rest, weightsFile: 'x.safetensors' }),
    ).toThrow(/x\.safetensors.*vision_model\.post_layernorm\.weight.*weight missing/);
  });
});
