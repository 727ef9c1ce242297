import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@vlfer/core';
import { createProjectionHead, saveProjectionHead } from '@vlfer/projection-head';
import { copyClassFolderSubset, repoRoot, runCli, sharedPath, writePaperAfew } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

// A data root in the layout of packages/bench/configs: CAER-S = 2 FER2013 test images per class (class folders),
// AFEW = a synthetic frame-directory set with DFER-CLIP lists; every other set of the two papers is absent.
const work = mkdtempSync(join(tmpdir(), 'vlfer-bench-paper-'));
const data = join(work, 'data');
const results = join(work, 'results');
const cli = (args: string[]) =>
  runCli(
    'apps/cli/test/bench/paper-entry.ts',
    [...args, '--data-root', data, '--backbones', 'tiny-clip', '--results', results, '--cache-dir', join(work, 'c')],
    { timeoutMs: 300_000 },
  );

beforeAll(async () => {
  await copyClassFolderSubset(sharedPath('data', 'fer2013-privatetest'), join(data, 'CAER-S', 'test'), 2);
  await writePaperAfew(data);
  saveProjectionHead(
    join(data, 'tiny-head.safetensors'),
    createProjectionHead({ inputDim: 24, outputDim: 64, rng: createRng(5) }),
  );
}, 120_000);

describe('bench:paper', () => {
  it('runs both tables on the sets on disk (CLIP, Exp-CLIP, HESP), lists the missing ones with their paths, writes the tables beside the paper', () => {
    // the shipped config, with a projection head for tiny-clip added (the real one names the released heads)
    const config = JSON.parse(
      readFileSync(join(repoRoot, 'packages', 'bench', 'configs', 'exp-clip-table2.json'), 'utf8'),
    );
    delete config.dataRoot;
    config.heads = { 'tiny-clip': 'tiny-head.safetensors' };
    const file = join(work, 'exp-clip-table2.json');
    writeFileSync(file, JSON.stringify(config));
    const r = cli(['exp-clip-table2', '--config', file]);
    expect(r.code, r.stderr).toBe(0);
    for (const [set, missing] of [
      ['RAF-DB', join(data, 'RAF-DB', 'basic')],
      ['AffectNet-7', join(data, 'AffectNet', 'Manually_Annotated_Images')],
      ['FERPlus', join(data, 'FERPlus', 'data')],
      ['DFEW', join(data, 'DFEW')],
      ['FERV39k', join(data, 'FERV39k')],
      ['MAFW', join(data, 'MAFW')],
    ])
      expect(r.stdout).toContain(`  ${set}: missing ${missing}\n`);
    expect(r.stdout).not.toMatch(/ (AFEW|CAER-S|Exp-CLIP tiny-clip): missing/);
    expect(r.stdout).toContain(`summary: ${join(results, 'summary.csv')}\n`);
    expect(readFileSync(join(results, 'summary.csv'), 'utf8')).toMatch(/^paper\/exp-clip-table2\/exp-clip\/afew,/m);
    const md = readFileSync(join(results, 'exp-clip-table2.md'), 'utf8').split('\n');
    const cells = (prefix: string) =>
      md
        .find((l) => l.startsWith(prefix))!
        .split('|')
        .slice(3, -1)
        .map((c) => c.trim());
    // columns RAF-DB … AFEW, CAER-S; only AFEW (8th) and CAER-S (9th) were run
    for (const method of ['CLIP', 'Exp-CLIP']) {
      const ours = cells(`| tiny-clip | ${method} |`);
      expect(ours.slice(0, 7)).toEqual(new Array(7).fill('–'));
      expect(ours[7]).toMatch(/^\d+\.\d\d\/\d+\.\d\d$/);
      expect(ours[8]).toMatch(/^\d+\.\d\d\/\d+\.\d\d$/);
    }
    expect(cells('| vit-l14 | Exp-CLIP (paper) |')[0]).toBe('58.70/65.37');
    const csv = readFileSync(join(results, 'exp-clip-table2.csv'), 'utf8');
    expect(csv).toMatch(/^CLIP,tiny-clip,caer-s,CAER-S,uar,\d+\.\d\d,,,1$/m);
    expect(csv).toMatch(/^Exp-CLIP,tiny-clip,afew,AFEW,war,\d+\.\d\d,,,1$/m);
    expect(csv).toMatch(/^CLIP,vit-b32,raf-db,RAF-DB,uar,,34\.97,,0$/m);
    // hesp-table: one split of the AFEW set present, MAFW, DFEW and FERV39k skipped with their paths
    const hespConfig = JSON.parse(
      readFileSync(join(repoRoot, 'packages', 'bench', 'configs', 'hesp-table.json'), 'utf8'),
    );
    delete hespConfig.dataRoot;
    const hespFile = join(work, 'hesp-table.json');
    writeFileSync(hespFile, JSON.stringify(hespConfig));
    const h = cli(['hesp-table', '--config', hespFile, '--splits', '0', '--epochs', '1']);
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toContain(`  MAFW: missing ${join(data, 'HESP-annotation', 'MAFW_train.txt')}\n`);
    expect(h.stdout).toContain(`  DFEW: missing ${join(data, 'DFER-CLIP-annotation', 'DFEW_set_1_train.txt')}\n`);
    expect(h.stdout).toContain(`  FERV39k: missing ${join(data, 'DFER-CLIP-annotation', 'FERV39K_train.txt')}\n`);
    const hespMd = readFileSync(join(results, 'hesp-table.md'), 'utf8');
    // split 0 is in AFEW's 2-known group: that row and the all-splits row hold it
    expect(hespMd).toMatch(
      /^\| tiny-clip \| AFEW \| 2 known \| \d+\.\d\d \| {2}\| {2}\| \d+\.\d\d \| {2}\| {2}\| \d+\.\d\d \| {2}\| {2}\| 1 \|$/m,
    );
    expect(hespMd).toMatch(/^\| tiny-clip \| AFEW \| 3 known \| – \| .* \| 0 \|$/m);
    expect(hespMd).toMatch(/^\| tiny-clip \| MAFW \| 8 known \| – \| .* \| 0 \|$/m);
  }, 300_000);
});
