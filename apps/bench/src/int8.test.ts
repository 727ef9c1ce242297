import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rowCosines } from '@vlfer/encoders';
import { encodeImages, loadClip } from '@vlfer/encoders/node';
import { sharedPath } from '@vlfer/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { writeRandomClip } from './random-clip.js';

const dir = mkdtempSync(join(tmpdir(), 'vlfer-int8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('int8 graphs at full size (ViT-B/32 architecture, random weights)', () => {
  it('image and text features keep cosine ≥ 0.999 to fp32 (printed per item)', async () => {
    const model = writeRandomClip({
      configFile: sharedPath('fixtures', 'graphs', 'vit-b32', 'config.json'),
      tokenizerDir: sharedPath('assets', 'clip-tokenizer'),
      outDir: join(dir, 'vit-b32'),
    });
    const root = sharedPath('data', 'fer2013-privatetest', 'happy');
    const items = readdirSync(root)
      .sort()
      .slice(0, 8)
      .map((f) => join(root, f));
    const prompts = ['a photo of a happy face.', 'an expression of anger.', 'a sad person.', 'a neutral face.'];
    const run = async (dtype: 'fp32' | 'int8') => {
      const clip = await loadClip({ model, dtype, intraOpNumThreads: 2 });
      const img = (await encodeImages({ model: clip, items, mode: 'clip' })).features;
      const txt = await clip.encodeTexts(prompts);
      await clip.dispose();
      return { img, txt };
    };
    const a = await run('fp32');
    const b = await run('int8');
    const ci = rowCosines(a.img, b.img);
    const ct = rowCosines(a.txt, b.txt);
    console.log(`ViT-B/32 int8 vs fp32 cosine, ${items.length} images: ${ci.map((c) => c.toFixed(5)).join(' ')}`);
    console.log(`ViT-B/32 int8 vs fp32 cosine, ${prompts.length} prompts: ${ct.map((c) => c.toFixed(5)).join(' ')}`);
    expect(Math.min(...ci, ...ct)).toBeGreaterThanOrEqual(0.999);
    expect(Math.min(...ci)).toBeLessThan(1 - 1e-7);
  }, 600_000);
});
