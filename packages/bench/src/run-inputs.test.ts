import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inputStamp, runInputs, runSettings, type RunInput } from './run-inputs.js';

const at = (path: string): RunInput[] => [{ role: 'root', path, local: true }];

const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-run-inputs-'));

describe('run input stamps', () => {
  it('follow a write, a new file and a removed one; a dangling link is stamped, not an error', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.png'), 'a');
    symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
    const s0 = inputStamp(at(dir));
    expect(inputStamp(at(dir))).toBe(s0);
    writeFileSync(join(dir, 'a.png'), 'b');
    const s1 = inputStamp(at(dir));
    expect(s1).not.toBe(s0);
    writeFileSync(join(dir, 'b.png'), 'b');
    const s2 = inputStamp(at(dir));
    expect(s2).not.toBe(s1);
    rmSync(join(dir, 'b.png'));
    expect(inputStamp(at(dir))).not.toBe(s2);
  });
  it('a folder reached again (a link cycle, or many links to one folder) is listed once', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'sub'));
    symlinkSync(dir, join(dir, 'sub', 'up'));
    // a chain of 30 folders each holding two links to the next: 2^30 paths if every link were walked
    for (let i = 0; i < 30; i++) mkdirSync(join(dir, `c${i}`));
    for (let i = 0; i < 29; i++) for (const l of ['x', 'y']) symlinkSync(join(dir, `c${i + 1}`), join(dir, `c${i}`, l));
    const t0 = performance.now();
    expect(inputStamp(at(dir))).toMatch(/^[0-9a-f]{64}$/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
  it('relative paths are taken from the working directory; a name with no local file is stamped by its name', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'model'));
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      expect(runInputs({ backbone: 'b', dataset: 'fer2013' }, undefined, { model: 'model', root: 'nowhere' })).toEqual([
        { role: 'model', path: join(dir, 'model'), local: true },
        { role: 'shared test set', path: 'nowhere', local: false },
      ]);
      const hub = (id: string) => inputStamp(runInputs({ backbone: 'b', dataset: 'x' }, undefined, { model: id }));
      expect(hub('Xenova/clip-vit-base-patch32')).not.toBe(hub('Xenova/clip-vit-base-patch16'));
    } finally {
      process.chdir(cwd);
    }
  });
  it('files swapped between roles change the stamp; a video list without root stamps its folder; rebase.to too', () => {
    const dir = tmp();
    for (const f of ['train.txt', 'test.txt']) writeFileSync(join(dir, f), f);
    mkdirSync(join(dir, 'frames'));
    mkdirSync(join(dir, 'moved'));
    const video = (train: string, test: string, extra: object = {}) => ({
      models: {},
      trainSets: {},
      videoSets: { afew: { train: join(dir, train), test: join(dir, test), ...extra } },
    });
    const c = { backbone: 'b', dataset: 'afew' };
    const stamp = (d: ReturnType<typeof video>) => inputStamp(runInputs(c, d, { model: 'm' }));
    expect(stamp(video('train.txt', 'test.txt'))).not.toBe(stamp(video('test.txt', 'train.txt')));
    const roles = runInputs(c, video('train.txt', 'test.txt', { rebase: { from: '/x', to: join(dir, 'moved') } }), {
      model: 'm',
    }).map((i) => i.role);
    expect(roles).toEqual([
      'model',
      'videoSet.train',
      'videoSet.test',
      'videoSet.rebase.to',
      'videoSet.train folder',
      'videoSet.test folder',
    ]);
    // a frame rewritten beside the lists (no root): the stamp changes
    const before = stamp(video('train.txt', 'test.txt'));
    writeFileSync(join(dir, 'frames', '00001.png'), 'x');
    expect(stamp(video('train.txt', 'test.txt'))).not.toBe(before);
    // the results or cache directory inside an input is left out
    const inside = inputStamp(at(dir), new Map(), [join(dir, 'frames')]);
    writeFileSync(join(dir, 'frames', '00002.png'), 'y');
    expect(inputStamp(at(dir), new Map(), [join(dir, 'frames')])).toBe(inside);
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
    // the code's part: HESP's random streams version (rows of version 2 run again under 3); none keeps the hash
    const hesp = { method: 'hesp', options: { hesp: { epochs: 2 } } };
    expect(runSettings(hesp, c, data, { hespRandomStreams: 3 })).not.toBe(base);
    expect(runSettings(hesp, c, data, { hespRandomStreams: 3 })).not.toBe(
      runSettings(hesp, c, data, { hespRandomStreams: 2 }),
    );
    expect(runSettings(hesp, c, data, undefined)).toBe(base);
  });
});
