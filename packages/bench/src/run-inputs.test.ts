import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inputStamp, runInputPaths, runSettings } from './run-inputs.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-run-inputs-'));

describe('run input stamps', () => {
  it('follow a write, a new file and a removed one; a dangling link is stamped, not an error', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.png'), 'a');
    symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
    const s0 = inputStamp([dir]);
    expect(inputStamp([dir])).toBe(s0);
    writeFileSync(join(dir, 'a.png'), 'b');
    const s1 = inputStamp([dir]);
    expect(s1).not.toBe(s0);
    writeFileSync(join(dir, 'b.png'), 'b');
    const s2 = inputStamp([dir]);
    expect(s2).not.toBe(s1);
    rmSync(join(dir, 'b.png'));
    expect(inputStamp([dir])).not.toBe(s2);
  });
  it('a folder reached again (a link cycle, or many links to one folder) is listed once', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'sub'));
    symlinkSync(dir, join(dir, 'sub', 'up'));
    // a chain of 30 folders each holding two links to the next: 2^30 paths if every link were walked
    for (let i = 0; i < 30; i++) mkdirSync(join(dir, `c${i}`));
    for (let i = 0; i < 29; i++) for (const l of ['x', 'y']) symlinkSync(join(dir, `c${i + 1}`), join(dir, `c${i}`, l));
    const t0 = performance.now();
    expect(inputStamp([dir])).toMatch(/^[0-9a-f]{64}$/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
  it('relative paths are taken from the working directory; Hugging Face ids and absent paths are left out', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'model'));
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      expect(
        runInputPaths({ backbone: 'b', dataset: 'fer2013' }, undefined, { model: 'model', root: 'nowhere' }),
      ).toEqual([join(dir, 'model')]);
      expect(
        runInputPaths({ backbone: 'b', dataset: 'x' }, undefined, { model: 'Xenova/clip-vit-base-patch32' }),
      ).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
  it("settings cover the method, options and the data config's non-path settings, not the axes or paths", () => {
    const data = { models: {}, videoSets: { mafw: { train: '/a', test: '/b', root: '/r' } }, trainSets: {} };
    const c = { backbone: 'vit-b32', dataset: 'mafw' };
    const base = runSettings({ method: 'hesp', options: { hesp: { epochs: 2 } } }, c, data);
    expect(runSettings({ method: 'hesp', options: { hesp: { epochs: 3 } } }, c, data)).not.toBe(base);
    const moved = { ...data, videoSets: { mafw: { train: '/x/a', test: '/x/b', root: '/x/r' } } };
    expect(runSettings({ method: 'hesp', options: { hesp: { epochs: 2 } } }, c, moved)).toBe(base);
    const rebased = { ...data, videoSets: { mafw: { ...data.videoSets.mafw, rebase: { from: '/d', to: '/e' } } } };
    expect(runSettings({ method: 'hesp', options: { hesp: { epochs: 2 } } }, c, rebased)).not.toBe(base);
  });
});
