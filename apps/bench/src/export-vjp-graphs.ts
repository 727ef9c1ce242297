#!/usr/bin/env node
/**
 * Write the CLIP forward+VJP ONNX graphs that @vlfer/encoders builds at load time, for a model's config.json, to
 * files (to inspect them in Netron or run them from another ONNX runtime). No weights: they are graph inputs named
 * like the Hugging Face model.safetensors keys. No Python or torch needed.
 * Usage: pnpm export-vjp-graphs <config.json> <out dir>
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@vlfer/core/node';
import { clipArchFromConfig, textTowerVjpModel, visionTowerVjpModel } from '@vlfer/encoders';

const [config, out] = process.argv.slice(2);
if (!config || !out) {
  process.stderr.write('usage: pnpm export-vjp-graphs <config.json> <out dir>\n');
  process.exit(2);
}
const arch = clipArchFromConfig(JSON.parse(readFileSync(config, 'utf8')), config);
const files: [string, Uint8Array][] = [
  ['text_model_vjp.onnx', textTowerVjpModel(arch.text)],
  ['vision_model_vjp.onnx', visionTowerVjpModel(arch.vision)],
  ['text_model_forward.onnx', textTowerVjpModel(arch.text, { withGradient: false })],
  ['vision_model_forward.onnx', visionTowerVjpModel(arch.vision, { withGradient: false })],
];
for (const [name, bytes] of files) {
  writeFileAtomic(join(out, name), bytes);
  process.stdout.write(`${join(out, name)} ${statSync(join(out, name)).size} bytes\n`);
}
