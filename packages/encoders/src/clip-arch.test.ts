import { readFileSync } from 'node:fs';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { clipArchFromConfig } from './clip-arch.js';

const config = () => JSON.parse(readFileSync(sharedPath('fixtures', 'tiny-clip', 'config.json'), 'utf8'));

describe('clipArchFromConfig checks the numbers the graphs are built from', () => {
  it('reads the tiny fixture, with the defaults of fields it leaves out', () => {
    const c = config();
    const a = clipArchFromConfig(c);
    expect(a.vision.layerNormEps).toBe(c.vision_config.layer_norm_eps ?? 1e-5);
    delete c.text_config.layer_norm_eps;
    delete c.text_config.max_position_embeddings;
    const d = clipArchFromConfig(c);
    expect([d.text.layerNormEps, d.text.maxPositions]).toEqual([1e-5, 77]);
  });
  it('refuses a layer_norm_eps that is not a positive number (NaN or Inf features) and a bad position count', () => {
    for (const v of [0, -1e-5, '1e-5']) {
      const c = config();
      c.vision_config.layer_norm_eps = v;
      expect(() => clipArchFromConfig(c, 'my/config.json')).toThrow(
        /my\/config\.json.*vision_config\.layer_norm_eps.*expected a positive number/,
      );
    }
    const c = config();
    c.text_config.max_position_embeddings = 0;
    expect(() => clipArchFromConfig(c)).toThrow(
      /text_config\.max_position_embeddings.*expected a positive integer, got 0/,
    );
  });
});
