import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadReferences, maxAbsDiff, referencePixels, sharedPath, copyWritable } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ClipGradientModel, loadClip } from './index.js';

const tiny = sharedPath('fixtures', 'tiny-clip');
const ref = loadReferences();

/**
 * A copy of `src` (a safetensors file) with int64 `position_ids` buffers added, as Hugging Face CLIP checkpoints saved
 * before transformers made them non-persistent hold them ([1, positions], 0 … positions − 1).
 */
function withPositionIds(src: string, dst: string, positions: Record<string, number>): void {
  const bytes = readFileSync(src);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const data = [bytes.subarray(8 + n)];
  let end = data[0]!.length;
  for (const [key, count] of Object.entries(positions)) {
    const ids = Buffer.alloc(8 * count);
    for (let i = 0; i < count; i++) ids.writeBigInt64LE(BigInt(i), 8 * i);
    header[key] = { dtype: 'I64', shape: [1, count], data_offsets: [end, end + ids.length] };
    end += ids.length;
    data.push(ids);
  }
  const text = JSON.stringify(header);
  const json = Buffer.from(text.padEnd(Math.ceil(text.length / 8) * 8, ' '));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(dst, Buffer.concat([len, json, ...data]));
}

describe('Hugging Face checkpoints with integer position_ids buffers', () => {
  it('are read (the buffers left out) by the graphs runtime and the gradient model: same embeddings', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vlfer-posids-')), 'clip');
    copyWritable(tiny, dir);
    withPositionIds(join(tiny, 'model.safetensors'), join(dir, 'model.safetensors'), {
      'text_model.embeddings.position_ids': 77,
      'vision_model.embeddings.position_ids': 50,
    });
    // they were refused: dtype "I64" is not supported (F32, F16, BF16, F64)
    const clip = await loadClip({ model: dir, backend: 'graphs' });
    try {
      expect(
        maxAbsDiff((await clip.encodePixels(referencePixels())).data, ref.vision.image_embeds.flat()),
      ).toBeLessThan(1e-4);
      expect(maxAbsDiff((await clip.encodeTexts(ref.text.prompts)).data, ref.text.text_embeds.flat())).toBeLessThan(
        1e-4,
      );
    } finally {
      await clip.dispose();
    }
    const grad = await ClipGradientModel.load(dir);
    await grad.release();
  }, 120_000);

  it('a Hugging Face cache snapshot (files linked into ../../blobs) runs with the weights in the graphs', async () => {
    // models--org--name/snapshots/<rev>/model.safetensors -> ../../blobs/<sha>: ONNX Runtime refused external data
    // outside the folder it was given ("External data path escapes model directory")
    const repo = join(mkdtempSync(join(tmpdir(), 'vlfer-hfcache-')), 'models--x--tiny-clip');
    const snapshot = join(repo, 'snapshots', 'abc123');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snapshot, { recursive: true });
    for (const f of readdirSync(tiny, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())) {
      const rel = join(f.parentPath, f.name).slice(tiny.length + 1);
      const blob = join(repo, 'blobs', rel.replaceAll('/', '_'));
      copyWritable(join(tiny, rel), blob);
      mkdirSync(join(snapshot, rel, '..'), { recursive: true });
      symlinkSync(
        join(
          '..',
          '..',
          ...rel
            .split('/')
            .slice(1)
            .map(() => '..'),
          'blobs',
          rel.replaceAll('/', '_'),
        ),
        join(snapshot, rel),
      );
    }
    const clip = await loadClip({ model: snapshot, backend: 'graphs', weightsIn: 'graph' });
    try {
      expect(
        maxAbsDiff((await clip.encodePixels(referencePixels())).data, ref.vision.image_embeds.flat()),
      ).toBeLessThan(1e-4);
    } finally {
      await clip.dispose();
    }
    const grad = await ClipGradientModel.load(snapshot); // 'graph' on the CPU by default for gradients
    await grad.release();
  }, 120_000);

  it('a local path that does not exist is said so, not tried as a Hub id', async () => {
    for (const model of ['scratch/models/nonexistent.pt', 'nonexistent.pt', 'a/b/c', '~/clip', 'runs@3/clip/model.pt'])
      await expect(loadClip({ model, tokenizer: tiny })).rejects.toThrow(
        new RegExp(`'model' passed to 'loadClip': the path '${model.replaceAll('.', '\\.')}' .* does not exist`),
      );
  });

  it("a model's content fingerprint refuses files replaced since it loaded them (it holds the weights read then)", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vlfer-replaced-')), 'clip');
    copyWritable(tiny, dir);
    for (const backend of ['graphs', 'onnx'] as const) {
      const clip = await loadClip({ model: dir, backend });
      try {
        const before = clip.contentFingerprint();
        expect(clip.contentFingerprint()).toBe(before);
        const file = join(dir, backend === 'graphs' ? 'model.safetensors' : 'onnx/vision_model.onnx');
        const bytes = readFileSync(file);
        writeFileSync(file, bytes); // the same bytes, rewritten: another file as far as the stamp can tell
        expect(() => clip.contentFingerprint()).toThrow(/changed since the model was loaded/);
      } finally {
        await clip.dispose();
      }
    }
  }, 120_000);
});
