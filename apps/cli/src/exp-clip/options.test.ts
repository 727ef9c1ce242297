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

describe('eval --dtype int8', () => {
  const parse = (...flags: string[]) => {
    const cmd = evalCommand();
    cmd.exitOverride().configureOutput({ writeErr: () => {} });
    cmd.action(() => {});
    cmd.parse(['--dataset', 'image-folder', '--root', 'r', '--model', 'm', ...flags], { from: 'user' });
    return cmd.opts();
  };
  it('takes the guard sample and the opt-out, defaulting to 64 images and refusing', () => {
    expect(parse('--dtype', 'int8')).toMatchObject({ dtype: 'int8', int8GuardSample: 64, acceptInaccurateInt8: false });
    const o = parse('--dtype', 'int8', '--int8-guard-sample', '16', '--accept-inaccurate-int8');
    expect(o).toMatchObject({ int8GuardSample: 16, acceptInaccurateInt8: true });
    expect(() => parse('--int8-guard-sample', '0')).toThrow();
  });
});

describe('train --milestones', () => {
  const parse = (...flags: string[]) => {
    const cmd = trainCommand();
    cmd.exitOverride().configureOutput({ writeErr: () => {} });
    cmd.action(() => {});
    cmd.parse(['--unlabelled', 'u', '--model', 'm', '--teacher', 'import', '--out', 'o', ...flags], { from: 'user' });
    return cmd.opts();
  };
  it("defaults to Exp-CLIP's [30], takes epochs or 'none', and refuses a non-integer naming it", () => {
    expect(parse().milestones).toEqual([30]);
    expect(parse('--milestones', '10,20').milestones).toEqual([10, 20]);
    expect(parse('--milestones', 'none').milestones).toEqual([]);
    for (const bad of ['10,x', '30;60', '[30]', ''])
      expect(() => parse('--milestones', bad)).toThrow(
        /expected comma-separated epochs such as 30 or 10,20, or 'none'/,
      );
    // --help shows the default as it would be typed
    expect(trainCommand().helpInformation()).toMatch(/--milestones <epochs>[\s\S]*?\(default:\s+30\)/);
  });
});
