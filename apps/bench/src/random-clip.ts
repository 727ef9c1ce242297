import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from '@vlfer/core';
import { ensureDir, writeSafetensors } from '@vlfer/core/node';

/**
 * A random-weight CLIP directory in the Hugging Face layout (config.json, model.safetensors with CLIPModel key
 * names, tokenizer files) for an architecture config — for speed measurements of the gradient graphs, whose
 * cost does not depend on the weight values. Weights U(−0.02·√3, 0.02·√3), LayerNorm weights 1, biases 0.
 */
export function writeRandomClip(options: {
  configFile: string;
  tokenizerDir: string;
  outDir: string;
  seed?: number;
}): string {
  const cfg = JSON.parse(readFileSync(options.configFile, 'utf8'));
  const rng = createRng(options.seed ?? 0);
  const a = 0.02 * Math.sqrt(3);
  const t: Record<string, { dims: number[]; data: Float32Array }> = {};
  const rand = (name: string, dims: number[]) => {
    t[name] = {
      dims,
      data: Float32Array.from({ length: dims.reduce((x, y) => x * y, 1) }, () => (2 * rng.next() - 1) * a),
    };
  };
  const fill = (name: string, dims: number[], v: number) => {
    t[name] = { dims, data: new Float32Array(dims.reduce((x, y) => x * y, 1)).fill(v) };
  };
  const layers = (prefix: string, c: Record<string, number>) => {
    const D = c.hidden_size!,
      I = c.intermediate_size!;
    for (let i = 0; i < c.num_hidden_layers!; i++) {
      const p = `${prefix}.encoder.layers.${i}`;
      for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
        rand(`${p}.self_attn.${n}.weight`, [D, D]);
        fill(`${p}.self_attn.${n}.bias`, [D], 0);
      }
      rand(`${p}.mlp.fc1.weight`, [I, D]);
      fill(`${p}.mlp.fc1.bias`, [I], 0);
      rand(`${p}.mlp.fc2.weight`, [D, I]);
      fill(`${p}.mlp.fc2.bias`, [D], 0);
      for (const n of ['layer_norm1', 'layer_norm2']) {
        fill(`${p}.${n}.weight`, [D], 1);
        fill(`${p}.${n}.bias`, [D], 0);
      }
    }
  };
  const tc = cfg.text_config,
    vc = cfg.vision_config,
    E = cfg.projection_dim;
  rand('text_model.embeddings.token_embedding.weight', [tc.vocab_size, tc.hidden_size]);
  rand('text_model.embeddings.position_embedding.weight', [tc.max_position_embeddings, tc.hidden_size]);
  layers('text_model', tc);
  fill('text_model.final_layer_norm.weight', [tc.hidden_size], 1);
  fill('text_model.final_layer_norm.bias', [tc.hidden_size], 0);
  rand('text_projection.weight', [E, tc.hidden_size]);
  const tokens = (vc.image_size / vc.patch_size) ** 2 + 1;
  rand('vision_model.embeddings.class_embedding', [vc.hidden_size]);
  rand('vision_model.embeddings.patch_embedding.weight', [vc.hidden_size, 3, vc.patch_size, vc.patch_size]);
  rand('vision_model.embeddings.position_embedding.weight', [tokens, vc.hidden_size]);
  layers('vision_model', vc);
  for (const n of ['pre_layrnorm', 'post_layernorm']) {
    fill(`vision_model.${n}.weight`, [vc.hidden_size], 1);
    fill(`vision_model.${n}.bias`, [vc.hidden_size], 0);
  }
  rand('visual_projection.weight', [E, vc.hidden_size]);
  ensureDir(options.outDir);
  writeSafetensors(join(options.outDir, 'model.safetensors'), t, {
    format: 'pt',
    note: 'random weights for speed measurements',
  });
  for (const f of ['config.json']) {
    rmSync(join(options.outDir, f), { force: true });
    copyFileSync(options.configFile, join(options.outDir, f));
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt']) {
    rmSync(join(options.outDir, f), { force: true });
    copyFileSync(join(options.tokenizerDir, f), join(options.outDir, f));
  }
  return options.outDir;
}
