import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ABLATIONS, expandAblation, readRows, runAblation, writeSummary } from './ablations.js';

describe('ablation registry and runner', () => {
  it('expands the grid: 5 prompt types × 2 preprocessings', () => {
    const runs = expandAblation('exp-clip-zero-shot/prompt-x-preprocess', ABLATIONS['exp-clip-zero-shot/prompt-x-preprocess']);
    expect(runs.length).toBe(10);
    expect(new Set(runs.map((r) => r.id)).size).toBe(10);
  });
  it('runs the zero-shot grid on tiny-clip, skips finished runs, and summarises', async () => {
    const results = mkdtempSync(join(tmpdir(), 'vlfer-abl-'));
    const opts = { shared: sharedPath(), resultsDir: results, cacheDir: join(results, 'cache'), limit: 40, log: () => {} };
    const first = await runAblation('exp-clip-zero-shot/prompt-x-preprocess', opts);
    expect(first).toEqual({ ran: 10, skipped: 0 });
    const again = await runAblation('exp-clip-zero-shot/prompt-x-preprocess', opts);
    expect(again).toEqual({ ran: 0, skipped: 10 });
    const rows = readRows(join(results, 'exp-clip-zero-shot__prompt-x-preprocess.jsonl'));
    expect(rows.length).toBe(10);
    expect(rows.every((r) => r.metrics.n === 40 && r.confusionMatrix.flat().reduce((a, b) => a + b, 0) === 40)).toBe(true);
    const csv = readFileSync(writeSummary(results), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('ablation,method,backbone,prompt_type,preprocess,dataset,seeds,n,uar_mean,uar_std,war_mean,war_std');
    expect(csv.length).toBe(11);
    const r0 = rows[0]!;
    const line = csv.find((l) => l.includes(`,${r0.coords.promptType},${r0.coords.preprocess},`))!;
    expect(line.split(',')[10]).toBe((100 * r0.metrics.war).toFixed(2));
    expect(existsSync(join(results, 'charts'))).toBe(true);
  }, 120_000);
});
