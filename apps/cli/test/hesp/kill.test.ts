import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyRunOutputs } from '@vlfer/core/node';
import { killChain, runCli, sharedPath, writeSyntheticVideoSet } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

// Fault injection: `hesp train` SIGKILLed at 10 random moments (seeded) and rerun must publish the same bytes as an
// uninterrupted run (a checkpoint after every step; per-step random streams make a mid-epoch resume exact).
const ENTRY = 'apps/cli/test/hesp/entry.ts';
const work = mkdtempSync(join(tmpdir(), 'vlfer-hesp-kill-'));

beforeAll(async () => {
  await writeSyntheticVideoSet(join(work, 'data'), {
    trainClasses: [0, 1, 2],
    testClasses: [0, 1, 2, 3, 4],
    trainPerClass: 6,
    testPerClass: 2,
    trainFrames: 6,
    testFrames: 5,
  });
}, 120_000);

describe('SIGKILL at random moments, then rerun: byte-identical results (fault injection)', () => {
  it('hesp train', async () => {
    const data = join(work, 'data');
    const args = [
      'train',
      '--dataset',
      'afew',
      '--train',
      join(data, 'train.txt'),
      '--test',
      join(data, 'test.txt'),
      '--root',
      data,
      '--known',
      '0,1,2',
      '--model',
      sharedPath('fixtures', 'tiny-clip'),
      '--epochs',
      '3',
      '--batch',
      '4',
      '--frames',
      '2',
      '--out',
      'run',
      '--no-progress',
    ];
    const a = join(work, 'uninterrupted');
    const b = join(work, 'killed');
    mkdirSync(a);
    mkdirSync(b);
    const full = runCli(ENTRY, args, { cwd: a, timeoutMs: 300_000 });
    expect(full.code, full.stderr).toBe(0);
    const chain = await killChain(ENTRY, args, { kills: 10, fullMs: full.ms, seed: 13, cwd: b });
    expect(chain.final.code, chain.final.stderr).toBe(0);
    console.log(
      `hesp train: uninterrupted ${full.ms.toFixed(0)} ms; killed ${chain.killed} runs at ${chain.delays.join(', ')} ms`,
    );
    expect(chain.killed).toBe(10);
    verifyRunOutputs(join(b, 'run'));
    expect(readFileSync(join(b, 'run', 'manifest.json'), 'utf8')).toBe(
      readFileSync(join(a, 'run', 'manifest.json'), 'utf8'),
    );
  }, 600_000);
});
