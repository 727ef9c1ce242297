import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tensor } from '@vlfer/core';
import { readTorchCheckpointFile } from '@vlfer/core/node';
import { loadReferences, maxAbsDiff, maxRelErr, referenceF32, referencePixels, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { openaiClipToHf } from '../index.js';
import { ClipGradientModel, loadClip } from './index.js';

// OpenAI-format checkpoints of tiny-clip, made with OpenAI's model definition and PyTorch 1.13
// (tools/fixtures/make_openai_clip_checkpoints.py); their OpenAI forward matched references.json to 1.2e-6 there.
const dir = join(import.meta.dirname, '..', '..', 'test-data', 'openai-clip');
const ref = loadReferences();
const tiny = sharedPath('fixtures', 'tiny-clip');
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
const pixels = referencePixels();

describe('OpenAI CLIP checkpoints (state dict and TorchScript archive) through the restricted unpickler', () => {
  it('reads the same tensors from torch.save(state_dict) and torch.jit.save', () => {
    const sd = readTorchCheckpointFile(join(dir, 'openai-tiny-state-dict.pt'));
    const jit = readTorchCheckpointFile(join(dir, 'openai-tiny-jit.pt'));
    expect(sd.kind).toBe('state-dict');
    expect(jit.kind).toBe('torchscript');
    expect(Object.keys(jit.tensors).sort()).toEqual(Object.keys(sd.tensors).sort());
    for (const k of ['visual.conv1.weight', 'transformer.resblocks.1.attn.in_proj_weight', 'text_projection'])
      expect(Buffer.from(jit.tensors[k]!.data.buffer).equals(Buffer.from(sd.tensors[k]!.data.buffer))).toBe(true);
    expect(sd.tensors['visual.proj']!.dims).toEqual([48, 24]);
  });

  for (const file of ['openai-tiny-state-dict.pt', 'openai-tiny-jit.pt']) {
    it(`${file}: loadClip matches the PyTorch references (image and text embeddings) to 1e-4`, async () => {
      const clip = await loadClip({ model: join(dir, file), tokenizer: tiny, config: join(tiny, 'config.json') });
      try {
        expect(clip.runtime).toBe('graphs');
        expect(clip.embeddingDim).toBe(24);
        expect(maxAbsDiff((await clip.encodePixels(pixels)).data, ref.vision.image_embeds.flat())).toBeLessThan(1e-4);
        expect(maxAbsDiff((await clip.encodeTexts(ref.text.prompts)).data, ref.text.text_embeds.flat())).toBeLessThan(
          1e-4,
        );
        expect(clip.contentFingerprint()).toMatch(/^[0-9a-f]{64}$/);
      } finally {
        await clip.dispose();
      }
    });
  }

  it('a Hugging Face config.json + model.safetensors directory runs on the same TypeScript graphs', async () => {
    const clip = await loadClip({ model: tiny, backend: 'graphs' });
    try {
      expect(clip.runtime).toBe('graphs');
      expect(maxAbsDiff((await clip.encodePixels(pixels)).data, ref.vision.image_embeds.flat())).toBeLessThan(1e-4);
      expect(maxAbsDiff((await clip.encodeTexts(ref.text.prompts)).data, ref.text.text_embeds.flat())).toBeLessThan(
        1e-4,
      );
      await expect(loadClip({ model: tiny, backend: 'graphs', dtype: 'fp16' })).rejects.toThrow(
        /'graphs' runtime .* computes in fp32/,
      );
    } finally {
      await clip.dispose();
    }
  });

  it("float16 TorchScript weights (as OpenAI releases them) give PyTorch's fp16-weight embeddings", async () => {
    const clip = await loadClip({
      model: join(dir, 'openai-tiny-jit-fp16.pt'),
      tokenizer: tiny,
      numHeads: expected.heads,
    });
    try {
      expect(maxAbsDiff((await clip.encodePixels(pixels)).data, expected.fp16.image_embeds.flat())).toBeLessThan(1e-4);
      expect(
        maxAbsDiff((await clip.encodeTexts(ref.text.prompts)).data, expected.fp16.text_embeds.flat()),
      ).toBeLessThan(1e-4);
    } finally {
      await clip.dispose();
    }
  });

  it("weightsIn: 'graph' copies a .pt's weights into the graphs and says so, except for int8 layers (nothing float32 copied)", async () => {
    const notices = async (dtype: 'fp32' | 'int8') => {
      const log: string[] = [];
      const clip = await loadClip({
        model: join(dir, 'openai-tiny-jit.pt'),
        tokenizer: tiny,
        numHeads: expected.heads,
        towers: ['vision'],
        dtype,
        weightsIn: 'graph',
        log: (l) => log.push(l),
      });
      const recipe = clip.featureRecipe;
      await clip.dispose();
      return { recipe, log };
    };
    const fp32 = await notices('fp32');
    expect(fp32.recipe).toBe('vlfer-clip-graphs-2/ort-fused/stored-weights');
    expect(fp32.log).toEqual([
      expect.stringMatching(
        /openai-tiny-jit\.pt: weights copied into the graphs, not read from the file by ONNX Runtime \(an OpenAI \.pt checkpoint is pickled, not raw\)/,
      ),
    ]);
    expect(await notices('int8')).toEqual({ recipe: 'vlfer-clip-graphs-2/int8-w7-cls', log: [] });
    // backend 'onnx' cannot run a .pt: refused, not run on the 'graphs' runtime instead
    await expect(
      loadClip({ model: join(dir, 'openai-tiny-jit.pt'), backend: 'onnx', tokenizer: tiny, numHeads: expected.heads }),
    ).rejects.toThrow(
      /openai-tiny-jit\.pt is an OpenAI checkpoint, which runs on the 'graphs' runtime.*backend 'onnx' needs a directory of ONNX graphs/,
    );
  });

  it('gives HESP its gradients from a .pt checkpoint (vision VJP vs PyTorch autograd)', async () => {
    const m = await ClipGradientModel.load(join(dir, 'openai-tiny-jit.pt'), {
      tokenizer: tiny,
      numHeads: expected.heads,
    });
    try {
      const r = await m.visionVjp(
        pixels,
        tensor<'R2'>(Float32Array.from(ref.vision.cotangent_v.flat() as number[]), [2, 24]),
      );
      expect(maxRelErr(r.gradPixels.data, referenceF32('grad_pixel_values.f32'))).toBeLessThan(1e-4);
    } finally {
      await m.release();
    }
  });

  it("infers heads as width / 64 (OpenAI's rule) and says what to pass when that fails", () => {
    const sd = readTorchCheckpointFile(join(dir, 'openai-tiny-state-dict.pt')).tensors;
    expect(() => openaiClipToHf(sd, { file: 'tiny.pt' })).toThrow(
      /tiny\.pt: cannot infer the vision head count: width 48 is not a multiple of 64 \(OpenAI's rule\); pass numHeads\.vision/,
    );
    const { arch } = openaiClipToHf(sd, { file: 'tiny.pt', numHeads: { vision: 2, text: 2 } });
    expect(arch.vision).toMatchObject({
      hiddenSize: 48,
      numLayers: 2,
      numHeads: 2,
      intermediateSize: 96,
      patchSize: 32,
      imageSize: 224,
      projectionDim: 24,
    });
    expect(arch.text).toMatchObject({
      hiddenSize: 32,
      numLayers: 2,
      numHeads: 2,
      intermediateSize: 64,
      maxPositions: 77,
    });
    // a ViT-B/32-shaped block (width 768) infers 12 heads; a ResNet checkpoint is refused by name
    const w = (dims: number[]) => ({ dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) });
    const b32 = { ...sd, 'visual.conv1.weight': w([768, 3, 32, 32]) };
    expect(() => openaiClipToHf(b32, { file: 'b32.pt', numHeads: { text: 2 } })).toThrow(
      /in_proj_weight.*expected \[2304, 768\]/,
    );
    expect(() => openaiClipToHf({ 'visual.layer1.0.conv1.weight': w([1]) }, { file: 'rn50.pt' })).toThrow(
      /rn50\.pt: a ResNet CLIP .* only ViT backbones/,
    );
    // a real ResNet CLIP has a visual.conv1 (its stem) too: it was taken for a ViT and refused for a missing key
    const rn = { 'visual.conv1.weight': w([32, 3, 3, 3]), 'visual.layer1.0.conv1.weight': w([1]) };
    expect(() => openaiClipToHf(rn, { file: 'rn50.pt' })).toThrow(/rn50\.pt: a ResNet CLIP .* only ViT backbones/);
    expect(() =>
      openaiClipToHf(
        { ...rn, 'visual.layer1.0.conv1.weight': undefined!, 'visual.attnpool.c_proj.weight': w([1]) },
        { file: 'rn50.pt' },
      ),
    ).toThrow(/a ResNet CLIP/);
  });
});
