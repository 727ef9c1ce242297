import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { repoRoot, runCli, sharedPath, writeSolidClassFolders } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

const model = sharedPath('fixtures', 'tiny-clip');
const work = mkdtempSync(join(tmpdir(), 'vlfer-cli-'));
const root = join(work, 'images');
const cli = (args: string[]) => runCli('apps/cli/test/exp-clip/entry.ts', args);
/** `exp-clip train` of the test images with the teacher `teacher` names (its kind and flags). */
const train = (...teacher: string[]) => ['train', '--unlabelled', root, '--model', model, '--teacher', ...teacher];
/** … with the HTTP teacher at `url` (model name 'm'). */
const httpTrain = (url: string) => train('http', '--teacher-url', url, '--teacher-model', 'm');

beforeAll(async () => {
  await writeSolidClassFolders(root, {
    classes: ['happy', 'sad', 'contempt'],
    perClass: 2,
    size: 32,
    level: (c, i) => 40 * c + 10 * i,
  });
}, 60_000);

const tsx = join(
  dirname(createRequire(join(repoRoot, 'package.json')).resolve('tsx/package.json')),
  'dist',
  'loader.mjs',
);
const cliArgs = (args: string[]) => [
  '--conditions=@vlfer/source',
  '--import',
  tsx,
  join(repoRoot, 'apps/cli/test/exp-clip/entry.ts'),
  ...args,
];
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Poll until `cond` holds: an event, not a deadline; `safetyMs` only ends a hang (failing with `what`). */
const until = async (cond: () => boolean, what: string, safetyMs = 180_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > safetyMs) throw new Error(`gave up waiting (${safetyMs / 1000} s) for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const longEval = (out: string) => [
  'eval',
  '--dataset',
  'fer2013',
  '--root',
  sharedPath('data', 'fer2013-privatetest'),
  '--model',
  model,
  '--prompts',
  '1',
  '--batch-size',
  '8',
  '--no-cache',
  '--no-progress',
  '--out',
  out,
];

describe('signals and a dying parent stop a run promptly (no orphan keeps writing)', () => {
  it('Ctrl-C (SIGINT) during encoding stops at the next batch with exit 130 and says how to resume', async () => {
    const out = join(work, 'sigint');
    const p = spawn(process.execPath, cliArgs(longEval(out)), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const closed = new Promise<number | null>((r) => p.on('close', r));
    await until(() => err.includes('fer2013: '), 'the run to list the data set');
    await new Promise((r) => setTimeout(r, 1500)); // into the encoding (3,589 images: far from done)
    p.kill('SIGINT');
    const code = await closed;
    expect(code, err).toBe(130);
    expect(err).toMatch(/SIGINT: stopping at the next step/);
    expect(err).toMatch(/evaluation was aborted|encoding images was aborted/);
    // stopped, not finished: nothing published, the lock released
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    expect(existsSync(join(out, '.vlfer-run.lock'))).toBe(false);
  }, 240_000);
  it('when its parent (a wrapper such as pnpm) is killed, the run notices and stops', async () => {
    const out = join(work, 'orphan');
    const wrapper = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('node:child_process').spawn(process.execPath, ${JSON.stringify(cliArgs(longEval(out)))}, { stdio: ['ignore', 'ignore', 'inherit'] }); console.log(c.pid); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    wrapper.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const childPid = Number(
      await new Promise<string>((r) => wrapper.stdout.once('data', (c: Buffer) => r(c.toString()))),
    );
    // events, not deadlines: the run holds its lock (it is working), then its parent dies, then it stops
    await until(() => existsSync(join(out, '.vlfer-run.lock')) || !alive(childPid), 'the run to take its lock');
    expect(alive(childPid), err).toBe(true);
    wrapper.kill('SIGKILL');
    await until(() => !alive(childPid), `the orphaned run (pid ${childPid}) to stop`);
    expect(err).toMatch(/the parent process \d+ is gone; stopping/);
    expect(err).toMatch(/evaluation was aborted|encoding images was aborted/);
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    expect(existsSync(join(out, '.vlfer-run.lock'))).toBe(false);
  }, 240_000);
});

describe('vlfer exp-clip command line', () => {
  it('rejects bad flags with the flag named, before loading anything', () => {
    const bad = cli(['eval', '--dataset', 'image-folder', '--root', root, '--model', model, '--prompts', '7']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/prompt type 7 is not in 1\.\.5/);
    const folds = cli(['eval', '--dataset', 'dfew', '--root', root, '--model', model, '--folds', '3-1']);
    expect(folds.code).toBe(1);
    expect(folds.stderr).toMatch(/'3-1' is not an ascending range of folds/);
    const wd = cli([
      ...train('import', '--targets', join(work, 't.jsonl')),
      '--weight-decay',
      '-1',
      '--out',
      join(work, 'wd'),
    ]);
    expect(wd.code).toBe(1);
    expect(wd.stderr).toMatch(/--weight-decay: expected a number ≥ 0, got -1/);
    expect(wd.stderr).not.toMatch(/weightDecay|at .*\.ts:\d+/); // flag names, no stack trace
    const url = cli([...httpTrain('127.0.0.1:8000'), '--out', join(work, 'url')]);
    expect(url.stderr).toMatch(/--teacher-url|baseUrl/);
    expect(url.stderr).toMatch(/'127\.0\.0\.1:8000' is not an http\(s\) URL; give the scheme/);
  }, 120_000);
  it('evaluates a 7-class-style set with contempt as its own classes, in one command, and prints a table', () => {
    // a lock file that names no run (a crash while it was written; garbage): taken over with a notice
    mkdirSync(join(work, 'run'), { recursive: true });
    writeFileSync(join(work, 'run', '.vlfer-run.lock'), 'garbage\n');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(work, 'run', '.vlfer-run.lock'), old, old);
    const ok = cli([
      'eval',
      '--dataset',
      'image-folder',
      '--root',
      root,
      '--model',
      model,
      '--prompts',
      '3',
      '--classes',
      'happiness,sadness,contempt',
      '--limit',
      '100',
      '--out',
      join(work, 'run'),
      '--no-progress',
      '--no-cache',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/a_photo_of_a_face_with_an_expression_of_name\s+\d+\.\d\d\s+\d+\.\d\d/);
    expect(ok.stderr).toMatch(/label set classes:happiness,sadness,contempt/);
    expect(ok.stderr).toMatch(
      /took over the lock file \.vlfer-run\.lock, which names no run \(not JSON: "garbage\\n"\)/,
    );
    expect(ok.stderr).not.toMatch(/after 5 attempts|pid undefined/);
    // numbers that say little are flagged, on stderr and in metrics.json (issue 22, item 10)
    expect(ok.stderr).toMatch(
      /^warning: image-folder: limit 100 is not smaller than the 6 items of the set: all of them are evaluated/m,
    );
    const warnings = JSON.parse(readFileSync(join(work, 'run', 'metrics.json'), 'utf8')).warnings as string[];
    expect(warnings).toContain(
      'image-folder: limit 100 is not smaller than the 6 items of the set: all of them are evaluated (no subset)',
    );
    for (const w of warnings) expect(ok.stderr).toContain(`warning: ${w}`);
  }, 120_000);
  it('--logit-scale sets the scale of the probabilities (recorded in metrics.json); long prompts are named on stderr', async () => {
    // a class whose name is a letter and 90 digits (one token each; a name of digits only is refused as no expression):
    // its prompt has 103 tokens (start, 9 words, 'x', 90 digits, ".", end) and is cut to 77
    const long = `x${'1234567890'.repeat(9)}`;
    const r2 = join(work, 'long-class');
    await writeSolidClassFolders(r2, { classes: ['happy', 'sad', long], perClass: 1, size: 32, level: (c) => 60 * c });
    const args = ['eval', '--dataset', 'image-folder', '--root', r2, '--model', model, '--prompts', '3'];
    const ok = cli([
      ...args,
      '--classes',
      `happiness,sadness,${long}`,
      '--logit-scale',
      '100',
      '--out',
      join(work, 'scale'),
      '--no-progress',
      '--no-cache',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(readFileSync(join(work, 'scale', 'metrics.json'), 'utf8')).logitScale).toEqual({
      value: 100,
      source: 'user',
    });
    expect(ok.stderr).toMatch(
      /prompt 3 of 3 has 103 tokens, more than CLIP's 77: its end is cut \(the end token kept in slot 77, as clip\.tokenize\(truncate=True\) does\): "a photo of a face with an expression of x1234567890/,
    );
    const bad = cli([...args, '--logit-scale', 'big']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--logit-scale.*expected 'model' or a positive number, got 'big'/);
  }, 120_000);
  it('evaluates a folder of raw multi-face photos through face detection and alignment in one command', async () => {
    const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
    const raw = join(work, 'raw');
    for (const [c, photos] of [
      ['happy', [1, 2, 3]],
      ['sad', [4, 5, 6]],
    ] as const) {
      mkdirSync(join(raw, c), { recursive: true });
      for (const i of photos) writeFileSync(join(raw, c, `sample${i}.jpg`), readFileSync(join(demo, `sample${i}.jpg`)));
    }
    writeFileSync(
      join(raw, 'sad', 'blank.png'),
      await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 99, g: 99, b: 99 } } })
        .png()
        .toBuffer(),
    );
    const args = [
      'eval',
      '--dataset',
      'image-folder',
      '--root',
      raw,
      '--classes',
      'happiness,sadness',
      '--model',
      model,
      '--prompts',
      '1',
      '--faces',
      'detect:align',
      '--face-models',
      sharedPath('assets', 'face-detectors'),
      '--face-select',
      'all',
      '--face-cache',
      join(work, 'faces'),
      '--no-cache',
      '--no-progress',
      '--out',
      join(work, 'raw-run'),
    ];
    const r = cli(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /faces \(yunet-s aligned 224px, all, no face: skip\): 7 images\/clips — 1 with none, 0 with one, 6 with several; 22 crops, 1 skipped/,
    );
    const metrics = JSON.parse(readFileSync(join(work, 'raw-run', 'metrics.json'), 'utf8'));
    expect(metrics.faces.counts).toMatchObject({ images: 7, zero: 1, many: 6, crops: 22 });
    // the blank image left out thins its class: said, since UAR and WAR are then of a subset
    expect(metrics.warnings).toContain(
      "image-folder: faces: 'sadness' keeps 3 of 4 images (no face was found in the others, which were left out: --when-no-face skip); UAR and WAR are of that subset and its class balance (--when-no-face full keeps them whole)",
    );
    const rows = readFileSync(join(work, 'raw-run', 'predictions.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    expect(rows.length).toBe(22); // one row per face, named by its photo
    expect(rows.some((l) => l.includes('happy/sample1.jpg#face2'))).toBe(true);
    const flags = cli([...args.filter((a) => a !== '--faces' && a !== 'detect:align')]);
    expect(flags.code).toBe(1);
    expect(flags.stderr).toMatch(
      /--face-models, --face-select, --face-cache need --faces detect or --faces detect:align/,
    );
  }, 180_000);
  it('infers the 7-class set with contempt (CK+-style folders, no neutral) without flags: 7-way, not 8-way', async () => {
    const ck = join(work, 'ck');
    await writeSolidClassFolders(ck, {
      classes: ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'],
      perClass: 1,
      size: 32,
      level: (c) => 30 * c,
    });
    const r = cli([
      'eval',
      '--dataset',
      'image-folder',
      '--root',
      ck,
      '--model',
      model,
      '--prompts',
      '1',
      '--out',
      join(work, 'ck-run'),
      '--no-progress',
      '--no-cache',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/label set contempt-7/);
    const metrics = JSON.parse(readFileSync(join(work, 'ck-run', 'metrics.json'), 'utf8'));
    expect(metrics.labelSet.names).toEqual([
      'happiness',
      'sadness',
      'anger',
      'surprise',
      'disgust',
      'fear',
      'contempt',
    ]);
    expect(
      readFileSync(join(work, 'ck-run', 'confusion-matrix.csv'), 'utf8')
        .trim()
        .split('\n').length,
    ).toBe(1 + 7);
  }, 120_000);
});

describe('messages name the flag, file or field, quote input safely and say what to do (issue 22, item 11)', () => {
  it('--merge, a 1 MB CSV cell in a file whose path holds a newline, a detector file with another checksum', () => {
    // an argument error of the pipeline is named by its flag, not as `Argument 'merge' passed to 'evaluateZeroShot'`
    const merge = cli([
      'eval',
      '--dataset',
      'image-folder',
      '--root',
      root,
      '--model',
      model,
      '--prompts',
      '1',
      '--merge',
      '2',
      '--out',
      join(work, 'merge'),
      '--cache-dir',
      join(work, 'merge-cache'),
      '--no-progress',
    ]);
    expect(merge.code).toBe(1);
    expect(merge.stderr).toMatch(/^vlfer: --merge: cannot merge 2 shards in .*merge/m);
    expect(merge.stderr).not.toMatch(/Argument 'merge'|evaluateZeroShot/);

    // quoted input is capped (a 1 MB cell once printed whole, twice): at most 200 characters of it; a newline in the
    // file's path is escaped, so the message stays one line
    const csvDir = join(work, 'csv');
    mkdirSync(csvDir, { recursive: true });
    writeFileSync(join(csvDir, 'a\nb.csv'), `Usage,Image name\nx"${'y'.repeat(1_000_000)},1\n`);
    const big = cli([
      'eval',
      '--dataset',
      'ferplus',
      '--root',
      csvDir,
      '--annotations',
      join(csvDir, 'a\nb.csv'),
      '--model',
      model,
      '--prompts',
      '1',
      '--out',
      join(work, 'csv-run'),
    ]);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(
      /: "[^"\n]*csv\/a\\nb\.csv":2: a quote inside an unquoted field: "x\\"y+…" \(1000002 characters, the first 200 shown\)$/m,
    );
    expect(big.stderr.length).toBeLessThan(1000);
    expect(big.stderr.trim().split('\n')).toHaveLength(1);

    // a detector file that is not the tested one: the advice is a flag the CLI has (no library-only `checksum: false`)
    const detectors = join(work, 'detectors');
    mkdirSync(detectors, { recursive: true });
    writeFileSync(join(detectors, 'yunet_s_dynamic.onnx'), 'not the tested file');
    const sum = cli([
      'eval',
      '--dataset',
      'image-folder',
      '--root',
      root,
      '--classes',
      'happiness,sadness,contempt',
      '--model',
      model,
      '--prompts',
      '1',
      '--faces',
      'detect',
      '--face-models',
      detectors,
      '--face-cache',
      join(work, 'detectors-cache'),
      '--no-cache',
      '--no-progress',
      '--out',
      join(work, 'detectors-run'),
    ]);
    expect(sum.code).toBe(1);
    expect(sum.stderr).toMatch(/yunet_s_dynamic\.onnx: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
    expect(sum.stderr).toMatch(
      /name it by its path instead of the id 'yunet-s' \(command line: --face-detector .*yunet_s_dynamic\.onnx\)/,
    );
    expect(sum.stderr).not.toMatch(/checksum: false/);
  }, 240_000);

  it('a shard of exp-clip train says what it wrote and how to get the head (it writes none)', () => {
    const targets = join(work, 'shard-targets.jsonl');
    const images = ['happy', 'sad', 'contempt'].flatMap((f) => [0, 1].map((i) => join(root, f, `${i}.png`)));
    writeFileSync(
      targets,
      images.map((p, i) => JSON.stringify({ path: p, embedding: [1, i, 2, -i, 0.5, 1, 3, i] })).join('\n') + '\n',
    );
    const r = cli([
      'train',
      '--unlabelled',
      root,
      '--model',
      model,
      '--teacher',
      'import',
      '--targets',
      targets,
      '--output-dim',
      '8',
      '--batch',
      '2',
      '--shard',
      '0/2',
      '--cache-dir',
      join(work, 'shard-cache'),
      '--no-progress',
      '--out',
      join(work, 'shard-train'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^shard 0\/2: \d+ images encoded with their teacher targets \(\d+ of \d+ units\) into the caches; record .*shards.*\. No head yet: when all 2 shards have finished, run the same command with --merge 2 \(without --shard\) to train it into .*head\.safetensors$/m,
    );
    expect(r.stdout).not.toMatch(/0 steps/);
    expect(existsSync(join(work, 'shard-train', 'head.safetensors'))).toBe(false);
  }, 120_000);
});

describe('exp-clip train asks an HTTP teacher that needs a token and is busy at first', () => {
  it('the token from $VLFER_TEACHER_API_KEY is sent and written nowhere; a 429 retry is logged and waited', async () => {
    const token = 'sk-test-9f8e7d';
    const auth: string[] = [];
    let first = true;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        auth.push(String(req.headers.authorization));
        if (req.headers.authorization !== `Bearer ${token}`) {
          res.writeHead(401);
          return res.end('{"error":"no token"}');
        }
        if (first) {
          first = false;
          res.writeHead(429, { 'retry-after': '1' });
          return res.end('busy');
        }
        res.end(JSON.stringify({ data: [{ embedding: [1, 2, 3, Math.random()] }] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out = join(work, 'http-train');
    const cache = join(work, 'http-cache');
    const args = cliArgs([
      ...httpTrain(url),
      '--output-dim',
      '4',
      '--batch',
      '2',
      '--epochs',
      '1',
      '--cache-dir',
      cache,
      '--no-progress',
      '--out',
      out,
    ]);
    const p = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, VLFER_TEACHER_API_KEY: token },
    });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => p.on('close', r));
    server.close();
    expect(code, stderr).toBe(0);
    expect(new Set(auth)).toEqual(new Set([`Bearer ${token}`]));
    expect(stderr).toMatch(/teacher: .*\.png: HTTP 429 busy; retry 1 of 3 in 1\.0 s/);
    const written = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? written(join(dir, e.name)) : [readFileSync(join(dir, e.name), 'latin1')],
      );
    for (const text of [...written(out), ...written(cache), stderr]) expect(text).not.toContain(token);
  }, 120_000);
});
