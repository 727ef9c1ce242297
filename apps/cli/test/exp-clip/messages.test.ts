import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, sharedPath, writeSolidClassFolders } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

// An independent tester's paper-cuts: results replaced without a word, messages naming internal functions
// (parseShard, loadEvalData, resolveLabelSet, shardFromEnv) and a mistyped --root reported as a dangling link.
const model = sharedPath('fixtures', 'tiny-clip');
const work = mkdtempSync(join(tmpdir(), 'vlfer-cli-messages-'));
const root = join(work, 'images');
const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli('apps/cli/test/exp-clip/entry.ts', args, { env });
const evalArgs = (out: string, ...extra: string[]) => [
  'eval',
  '--dataset',
  'image-folder',
  '--root',
  root,
  '--model',
  model,
  '--no-cache',
  '--no-progress',
  '--out',
  out,
  ...extra,
];

beforeAll(async () => {
  await writeSolidClassFolders(root, {
    classes: ['happy', 'sad'],
    perClass: 2,
    size: 16,
    level: (c, i) => 90 * c + 20 * i,
  });
}, 60_000);

describe('exp-clip eval --out never replaces earlier results unless asked', () => {
  it('a second run into the same --out is refused, naming the directory and --overwrite; --overwrite replaces the set', () => {
    const out = join(work, 'run');
    const first = cli(evalArgs(out, '--prompts', '1'));
    expect(first.code, first.stderr).toBe(0);
    const metrics = readFileSync(join(out, 'metrics.json'), 'utf8');
    const again = cli(evalArgs(out, '--prompts', '2'));
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `vlfer: --out: ${out} already holds the results of an earlier evaluation with other options (--prompts (["class_name"] then, ["an_expression_of_name"] now); config.resolved.json, confusion-matrix.csv, metrics.json, predictions.csv); pass --overwrite to replace them as one set, or choose another output directory\n`,
    );
    expect(readFileSync(join(out, 'metrics.json'), 'utf8')).toBe(metrics);
    const replaced = cli(evalArgs(out, '--prompts', '2', '--overwrite'));
    expect(replaced.code, replaced.stderr).toBe(0);
    const now = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as object;
    expect(JSON.stringify(now)).not.toBe(JSON.stringify(JSON.parse(metrics)));
    expect(JSON.stringify(now)).toMatch(/a_photo_of_a_face_with_an_expression_of_name|an_expression_of_name/);
  }, 120_000);
});

describe('user-facing errors say what was expected and name the flag, never an internal function', () => {
  it('--shard 3/2 says what --shard expects', () => {
    const r = cli(evalArgs(join(work, 's'), '--shard', '3/2', '--cache-dir', join(work, 'cache')));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "vlfer: option '--shard <i/n>' argument '3/2' is invalid. expected --shard i/n, shard i of n counted from 0: 0 ≤ i < n (e.g. 0/4, 1/4, 2/4, 3/4), got '3/2'\n",
    );
  });
  it('errors of the functions a pipeline calls name the flag or the environment variable', () => {
    const label = cli(evalArgs(join(work, 'l'), '--label-set', 'no-such-set'));
    expect(label.code).toBe(1);
    expect(label.stderr).toMatch(/^vlfer: --label-set: 'no-such-set' is neither a built-in label set/);
    const dfew = cli(['eval', '--dataset', 'dfew', '--root', root, '--model', model, '--no-progress']);
    expect(dfew.stderr).toMatch(/^vlfer: --annotations: is required for dataset dfew/);
    const env = cli(evalArgs(join(work, 'e'), '--cache-dir', join(work, 'cache')), {
      SLURM_ARRAY_TASK_ID: 'x',
      SLURM_ARRAY_TASK_COUNT: '2',
    });
    expect(env.stderr).toBe(
      "vlfer: environment variable SLURM_ARRAY_TASK_ID: must be a non-negative integer, got 'x'\n",
    );
    for (const r of [label, dfew, env])
      expect(r.stderr).not.toMatch(/passed to|parseShard|loadEvalData|resolveLabelSet|shardFromEnv/);
  });
});

describe('a mistyped --root', () => {
  it('is named as a root that does not exist (not as a dangling link); a real dangling link is named as one', () => {
    const typo = cli(evalArgs(join(work, 't')).map((a) => (a === root ? `${root}x` : a)));
    expect(typo.code).toBe(1);
    expect(typo.stderr).toBe(`vlfer: --root: the root '${root}x' does not exist\n`);
    expect(existsSync(join(work, 't'))).toBe(false); // the --out it made for the run is removed again
    const noModel = evalArgs(join(work, 'm', 'out')).map((a) => (a === model ? join(work, 'no-model') : a));
    expect(cli(noModel).stderr).toBe(
      // before the dataset is read (no line about its images)
      `vlfer: --model: the path '${join(work, 'no-model')}' does not exist; expected a model directory (transformers.js ONNX graphs, or config.json + model.safetensors) or an OpenAI .pt checkpoint\n`,
    );
    expect(existsSync(join(work, 'm'))).toBe(false);
    writeFileSync(join(work, 'a-file'), 'x');
    // a flag this evaluation would not use is refused (it did nothing, yet keyed the results as another choice)
    expect(cli(evalArgs(join(work, 's'), '--split', 'train')).stderr).toBe(
      'vlfer: --split: dataset image-folder has no train/test split to choose (RAF-DB and FERPlus have)\n',
    );
    expect(cli(evalArgs(join(work, 's'), '--views', 'S')).stderr).toBe(
      'vlfer: --views: dataset image-folder has no views to choose (KDEF has)\n',
    );
    expect(cli(evalArgs(join(work, 's'), '--peak-frames', '1')).stderr).toBe(
      'vlfer: --peak-frames: dataset image-folder has no expression sequences to take peak frames of (CK+ has)\n',
    );
    const kdef = evalArgs(join(work, 's'), '--views', 'S,XX').map((a) => (a === 'image-folder' ? 'kdef' : a));
    expect(cli(kdef).stderr).toBe(
      "vlfer: option '--views <list>' argument 'S,XX' is invalid. expected comma-separated KDEF views of FL, HL, S, HR, FR, got 'XX'\n",
    );
    expect(cli(evalArgs(join(work, 's'), '--subset-seed', '3')).stderr).toMatch(
      /^vlfer: --subset-seed: seeds the limit subset and the sample of the int8 guard \(--dtype int8\)/,
    );
    // exp-clip train: the flags of the teacher not chosen, and --keys beside a targets file with its own keys
    const train = (...extra: string[]) =>
      cli(['train', '--unlabelled', join(root, 'happy'), '--model', model, '--out', join(work, 'tr'), ...extra]).stderr;
    expect(train('--teacher', 'import', '--targets', 't.jsonl', '--teacher-url', 'http://127.0.0.1:1')).toBe(
      'vlfer: --teacher-url: for --teacher http; --teacher import reads --targets\n',
    );
    expect(train('--teacher', 'import', '--targets', 't.jsonl', '--keys', 'k.txt')).toBe(
      'vlfer: --keys: for a .npy or .safetensors targets file; t.jsonl holds its own keys\n',
    );
    expect(train('--teacher', 'import', '--targets', 't.npy', '--optimizer', 'adam', '--momentum', '0.9')).toBe(
      'vlfer: --momentum: for --optimizer sgd only; --optimizer adam has none\n',
    );
    const cached = evalArgs(join(work, 'c'), '--cache-dir', join(work, 'a-file')).filter((a) => a !== '--no-cache');
    expect(cli(cached).stderr).toBe(
      `vlfer: --cache-dir: ${join(work, 'a-file')} is a file; expected a directory (created if missing)\n`,
    );
    symlinkSync(join(work, 'gone'), join(work, 'link'));
    const link = cli(evalArgs(join(work, 't')).map((a) => (a === root ? join(work, 'link') : a)));
    expect(link.stderr).toBe(
      `vlfer: --root: the root '${join(work, 'link')}' is a dangling symbolic link (its target '${join(work, 'gone')}' does not exist)\n`,
    );
  });
});
