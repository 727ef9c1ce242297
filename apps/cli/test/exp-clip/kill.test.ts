import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { verifyRunOutputs } from '@vlfer/core/node';
import { killChain, runCli, sharedPath } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

// Fault injection: the commands are SIGKILLed at ≥ 10 random moments (seeded) and rerun; the finished run must
// publish the same bytes as an uninterrupted one. Runs use relative --out/--cache-dir from their own working
// directory, so their resolved configurations are comparable byte for byte.
const ENTRY = 'apps/cli/test/exp-clip/entry.ts';
const work = mkdtempSync(join(tmpdir(), 'vlfer-kill-'));
const model = sharedPath('fixtures', 'tiny-clip');
const fer = sharedPath('data', 'fer2013-privatetest');
const unlabelled = join(work, 'unlabelled');
const targets = join(work, 'targets.jsonl');

beforeAll(async () => {
  mkdirSync(unlabelled, { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < 64; i++) {
    const p = join(unlabelled, `${String(i).padStart(3, '0')}.png`);
    writeFileSync(
      p,
      await sharp(
        new Uint8Array(40 * 40 * 3).map((_, k) => (i * 37 + k * ((i % 7) + 1)) % 256),
        { raw: { width: 40, height: 40, channels: 3 } },
      )
        .png()
        .toBuffer(),
    );
    lines.push(
      JSON.stringify({ path: p, embedding: Array.from({ length: 64 }, (_, k) => Math.sin(i * 1.7 + k * 0.3)) }),
    );
  }
  writeFileSync(targets, `${lines.join('\n')}\n`);
}, 60_000);

function drillDirs(name: string): [string, string] {
  const a = join(work, `${name}-uninterrupted`);
  const b = join(work, `${name}-killed`);
  mkdirSync(a);
  mkdirSync(b);
  return [a, b];
}

/** Run a command once uninterrupted and once SIGKILLed at `kills` random moments and rerun: the published sets must be equal. */
async function drill(name: string, args: string[], seed: number, kills = 10): Promise<void> {
  const [a, b] = drillDirs(name);
  const full = runCli(ENTRY, args, { cwd: a });
  expect(full.code, full.stderr).toBe(0);
  const chain = await killChain(ENTRY, args, { kills, fullMs: full.ms, seed, cwd: b });
  expect(chain.final.code, chain.final.stderr).toBe(0);
  console.log(
    `${name}: uninterrupted ${full.ms.toFixed(0)} ms; killed ${chain.killed} runs at ${chain.delays.join(', ')} ms`,
  );
  expect(chain.killed).toBe(kills);
  verifyRunOutputs(join(b, 'run'));
  expect(readFileSync(join(b, 'run', 'manifest.json'), 'utf8')).toBe(
    readFileSync(join(a, 'run', 'manifest.json'), 'utf8'),
  );
}

describe('SIGKILL at random moments, then rerun: byte-identical results (fault injection)', () => {
  it('exp-clip eval', async () => {
    await drill(
      'eval',
      [
        'eval',
        '--dataset',
        'fer2013',
        '--root',
        fer,
        '--model',
        model,
        '--prompts',
        '1,4',
        '--limit',
        '500',
        '--batch-size',
        '16',
        '--out',
        'run',
        '--cache-dir',
        'cache',
        '--no-progress',
      ],
      11,
    );
  }, 300_000);

  it('exp-clip eval --faces (face detection and crops cached; a warm-cache rerun publishes the same set)', async () => {
    const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
    const raw = join(work, 'raw');
    for (const [c, photos] of [
      ['happy', [1]],
      ['sad', [3]],
    ] as const) {
      mkdirSync(join(raw, c), { recursive: true });
      for (const i of photos) writeFileSync(join(raw, c, `sample${i}.jpg`), readFileSync(join(demo, `sample${i}.jpg`)));
    }
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
      'faces',
      '--cache-dir',
      'cache',
      '--no-progress',
      '--out',
      'run',
    ];
    await drill('faces', args, 13, 3);
    // a warm-cache rerun of the uninterrupted run: every detection from the cache, the same published set
    const a = join(work, 'faces-uninterrupted');
    const manifest = readFileSync(join(a, 'run', 'manifest.json'), 'utf8');
    const warm = runCli(ENTRY, args, { cwd: a });
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stderr).toMatch(/detector run on 0 images, \d+ from the cache/);
    expect(readFileSync(join(a, 'run', 'manifest.json'), 'utf8')).toBe(manifest);
    expect(JSON.parse(readFileSync(join(a, 'run', 'run.json'), 'utf8')).faces).toMatchObject({ detected: 0 });
  }, 300_000);

  it('exp-clip train', async () => {
    await drill(
      'train',
      [
        'train',
        '--unlabelled',
        unlabelled,
        '--model',
        model,
        '--teacher',
        'import',
        '--targets',
        targets,
        '--output-dim',
        '64',
        '--epochs',
        '800',
        '--batch',
        '16',
        '--lr',
        '0.01',
        '--optimizer',
        'adam',
        '--checkpoint-seconds',
        '0.2',
        '--out',
        'run',
        '--cache-dir',
        'cache',
        '--no-progress',
      ],
      12,
    );
  }, 300_000);

  it('a full disk or read-only directory at any write leaves the previous results intact and names the file; a failure while publishing leaves the old or the new set', () => {
    const args = [
      'eval',
      '--dataset',
      'fer2013',
      '--root',
      fer,
      '--model',
      model,
      '--prompts',
      '2',
      '--limit',
      '60',
      '--out',
      'run',
      '--cache-dir',
      'cache',
      '--no-progress',
    ];
    const dir = join(work, 'faults');
    mkdirSync(dir);
    expect(runCli(ENTRY, args, { cwd: dir }).code).toBe(0);
    const manifest = readFileSync(join(dir, 'run', 'manifest.json'), 'utf8');
    // other options into the same --out: a replacement, which --overwrite allows (refused without it)
    const other = ['eval', ...args.slice(1).map((a) => (a === '2' ? '3' : a)), '--overwrite'];
    for (const [n, code] of [
      [1, 'ENOSPC'],
      [3, 'ENOSPC'],
      [2, 'EROFS'],
      [4, 'EROFS'],
    ] as const) {
      const r = runCli(ENTRY, other, { cwd: dir, env: { VLFER_FAILPOINTS: `write:${n}+=${code}` } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`cannot write \\S+: ${code}`));
      verifyRunOutputs(join(dir, 'run'));
      expect(readFileSync(join(dir, 'run', 'manifest.json'), 'utf8')).toBe(manifest);
    }
    // failures while publishing (the staged manifest, renames after the commit): the old or the new set, whole
    const ref = join(work, 'faults-other');
    mkdirSync(ref);
    expect(runCli(ENTRY, other, { cwd: ref }).code).toBe(0);
    const manifests = { old: manifest, new: readFileSync(join(ref, 'run', 'manifest.json'), 'utf8') };
    let state: 'old' | 'new' = 'old';
    for (const [failpoint, want] of [
      ['write:5=ENOSPC', 'either'], // the case: a failure at the (staged) manifest
      ['rename:1=EIO', 'switched'], // after the commit, a transient error: retried at once
      ['rename:2+=EIO', 'switched'], // after the commit, a lasting error: completed by the next verify
    ] as const) {
      const next = state === 'old' ? 'new' : 'old';
      const r = runCli(ENTRY, next === 'new' ? other : [...args, '--overwrite'], {
        cwd: dir,
        env: { VLFER_FAILPOINTS: failpoint },
      });
      expect([0, 1], r.stderr).toContain(r.code);
      verifyRunOutputs(join(dir, 'run')); // completes a committed publish (the run's lock is stale: it exited)
      const now = readFileSync(join(dir, 'run', 'manifest.json'), 'utf8');
      if (want === 'switched') expect(now, failpoint).toBe(manifests[next]);
      else expect([manifests.old, manifests.new], failpoint).toContain(now);
      state = now === manifests.new ? 'new' : 'old';
    }
  }, 240_000);
});
