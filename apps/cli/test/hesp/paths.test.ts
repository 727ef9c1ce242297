import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runCli, sharedPath, writeSyntheticVideoSet } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

// Issue 22 item 6 at the command line: a frame directory that leaves --root is refused (list, line, path) unless
// --allow-outside-root; two spellings of one frame directory are one clip.
const work = mkdtempSync(join(tmpdir(), 'vlfer-hesp-paths-'));
const cli = (train: string, extra: string[] = []) =>
  runCli('apps/cli/test/hesp/entry.ts', [
    'train',
    '--dataset',
    'afew',
    '--train',
    train,
    '--test',
    join(work, 'test.txt'),
    '--root',
    work,
    '--model',
    sharedPath('fixtures', 'tiny-clip'),
    '--known',
    '0,1,2',
    '--epochs',
    '1',
    '--out',
    join(work, `run-${Math.random().toString(36).slice(2)}`),
    ...extra,
  ]);

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

describe('hesp train: frame directories in the lists', () => {
  it('refuses ../ (leaving --root) naming the list, line and path, before training; --allow-outside-root reads it', () => {
    const lines = readFileSync(join(work, 'train.txt'), 'utf8').trim().split('\n');
    // the same directory, reached by leaving the root and coming back
    lines[1] = `../${basename(work)}/${lines[1]}`;
    const train = join(work, 'train-outside.txt');
    writeFileSync(train, `${lines.join('\n')}\n`);
    const refused = cli(train);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /train-outside\.txt:2 \(field 'frame_dir'\): '\.\.\/vlfer-hesp-paths-\w+\/frames\/tr_0_1' leaves the root; .*--allow-outside-root/,
    );
    const allowed = cli(train, ['--allow-outside-root']);
    expect(allowed.code, allowed.stderr).toBe(0);
  });
  it('./frames/x/ beside frames/x is one clip listed twice', () => {
    const lines = readFileSync(join(work, 'train.txt'), 'utf8').trim().split('\n');
    const train = join(work, 'train-twice.txt');
    writeFileSync(train, `${[...lines, `./${lines[0]!.replace(' ', '/ ')}`].join('\n')}\n`);
    const r = cli(train);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /train-twice\.txt:7: frame directory 'frames\/tr_0_0' is listed twice \(first at line 1\)/,
    );
  });
});
