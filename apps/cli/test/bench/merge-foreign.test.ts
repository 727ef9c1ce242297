import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { copyClassFolderSubset, runCli, sharedPath } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { ablationArgs, ENTRY as entry } from './ablation-cli.js';

// Issue 22 item 5 end to end: two shards of one ablation, one run on a colour-inverted copy of the FER images (same
// names and labels), must not merge. Small copies (2 images per class) keep it cheap.
const work = mkdtempSync(join(tmpdir(), 'vlfer-merge-foreign-'));
const results = join(work, 'results');
const args = (shared: string) => ablationArgs(results, { shared, limit: 14, cacheDir: join(work, 'cache') });

/** A shared-assets folder with the real tiny CLIP and 2 FER images per class, inverted or not. */
async function sharedCopy(name: string, invert: boolean): Promise<string> {
  const dir = join(work, name);
  mkdirSync(join(dir, 'fixtures'), { recursive: true });
  symlinkSync(sharedPath('fixtures', 'tiny-clip'), join(dir, 'fixtures', 'tiny-clip'));
  await copyClassFolderSubset(
    sharedPath('data', 'fer2013-privatetest'),
    join(dir, 'data', 'fer2013-privatetest'),
    2,
    async (source, target) => {
      const img = sharp(source);
      await (invert ? img.negate({ alpha: false }) : img).toFile(target);
    },
  );
  return dir;
}

let normal = '';
let inverted = '';
beforeAll(async () => {
  normal = await sharedCopy('shared', false);
  inverted = await sharedCopy('shared-inverted', true);
}, 60_000);

describe('bench:ablations --merge of a shard run on other data', () => {
  it('refuses it, naming the dataset and the two shards; nothing is merged', () => {
    const s0 = runCli(entry, [...args(normal), '--shard', '0/2']);
    expect(s0.code, s0.stderr).toBe(0);
    const s1 = runCli(entry, [...args(inverted), '--shard', '1/2']);
    expect(s1.code, s1.stderr).toBe(0);
    const merged = runCli(entry, [...args(normal), '--merge', '2']);
    expect(merged.code).toBe(1);
    expect(merged.stderr).toMatch(
      /cannot merge exp-clip-zero-shot\/prompt-x-preprocess: the shards read different data for 'fer2013 strat-n14-seed0' \(shard 0\/2: \w{12}…, shard 1\/2: \w{12}…\)/,
    );
    expect(merged.stderr).not.toMatch(/merged \d+ runs/);
  }, 300_000);
});
