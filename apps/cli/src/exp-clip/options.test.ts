import { describe, expect, it } from 'vitest';
import { evalCommand, trainCommand } from './options.js';

describe('--preprocess', () => {
  for (const make of [evalCommand, trainCommand]) {
    it(`${make().name()}: accepts 'openai' (OpenAI clip.load's transform) besides 'exp-clip' and 'clip'`, () => {
      const cmd = make();
      cmd.exitOverride().configureOutput({ writeErr: () => {} });
      cmd.action(() => {});
      expect(cmd.options.find((o) => o.long === '--preprocess')?.argChoices).toEqual(['clip', 'exp-clip', 'openai']);
      // an unknown mode is refused with the choices named
      expect(() => cmd.parse(['--preprocess', 'opneai'], { from: 'user' })).toThrow(/opneai.*clip, exp-clip, openai/s);
    });
  }
});
