import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, sharedPath, writeSyntheticVideoSet } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

const work = mkdtempSync(join(tmpdir(), 'vlfer-hesp-cli-'));
const cli = (args: string[]) => runCli('apps/cli/test/hesp/entry.ts', args);
const base = () => [
  'train',
  '--dataset',
  'afew',
  '--train',
  join(work, 'train.txt'),
  '--test',
  join(work, 'test.txt'),
  '--root',
  work,
  '--model',
  sharedPath('fixtures', 'tiny-clip'),
  '--epochs',
  '1',
  '--out',
  join(work, 'run'),
];

beforeAll(async () => {
  await writeSyntheticVideoSet(work, {
    trainClasses: [0, 1, 2],
    testClasses: [0, 1, 2, 3],
    trainPerClass: 2,
    testPerClass: 1,
    trainFrames: 4,
    testFrames: 4,
  });
}, 60_000);

describe('vlfer hesp command line', () => {
  it('refuses repeated known classes, --split with --known, --selection-metrics with --select-on val, --classes with --label-set, and a location outside the frame', () => {
    const dup = cli([...base(), '--known', '0,0,1']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/class id 0 \(happiness\) is listed twice/);
    const both = cli([...base(), '--known', '0,1', '--split', '3']);
    expect(both.stderr).toMatch(
      /--known: explicit known class ids and a HESP split \(--split\) were both given: give one/,
    );
    expect(both.stderr).not.toMatch(/splitIndex/);
    const metrics = cli([...base(), '--known', '0,1', '--selection-metrics', 'standard']);
    expect(metrics.stderr).toBe(
      'vlfer: --selection-metrics: drives selection on the test split (--select-on test); selection on the validation part is by closed-set accuracy\n',
    );
    const labels = cli([...base(), '--known', '0,1', '--classes', 'a,b,c', '--label-set', 'basic-7']);
    expect(labels.stderr).toMatch(/^vlfer: --classes: was given with --label-set 'basic-7' too: give one/);
    const far = cli([...base(), '--known', '0,1', '--location', '1000,1000']);
    expect(far.stderr).toMatch(/\(1000, 1000\) puts the 56-pixel patch outside the 224×224 frame/);
  }, 120_000);
  it('names a damaged run configuration in one line', () => {
    const dir = join(work, 'broken');
    const r0 = cli(['eval', '--run', dir]);
    expect(r0.stderr).toBe(`vlfer: --run: ${dir} does not exist; expected a directory written by 'hesp train'\n`);
    mkdirSync(dir, { recursive: true });
    expect(cli(['eval', '--run', dir]).stderr).toMatch(/config\.resolved\.json: not found/); // a directory, no run
    writeFileSync(join(dir, 'config.resolved.json'), '{"dataset": "afew", "lr": "x"}');
    const r = cli(['eval', '--run', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
  }, 120_000);
  it('reports a known class without training clips on stderr and in metrics.json (issue 22, item 10)', () => {
    const out = join(work, 'missing-class');
    const r = cli([...base().slice(0, -1), out, '--known', '0,1,3', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    const w = `known class 3 (anger) has no training clips in ${join(work, 'train.txt')}: only its name (the text prompt) represents it`;
    expect(r.stderr).toContain(`warning: ${w}`);
    // (the tiny set also holds out no validation clip: that is warned too, and the last epoch kept)
    expect(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).warnings[0]).toBe(w);
  }, 180_000);
});
