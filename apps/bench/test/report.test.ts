/**
 * The ablation report opened in a real headless browser (Debian's chromium, driven by playwright-core): every chart
 * renders (an SVG per chart), the console stays clean, and a screenshot is written. Needs `chromium` on PATH
 * (`apt-get install chromium`; `.ci/run` installs it); without it the test fails and says so.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { createRng } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { writeSummary, type ResultRow } from '../src/ablations.js';
import { writeReport } from '../src/report.js';

const executablePath =
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ??
  spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();

/** Result rows as bench:ablations writes them: a closed-set grid (2 prompt types × 2 seeds) and an open-set one. */
function syntheticResults(dir: string, payload?: string): void {
  const rng = createRng(5);
  const names = [payload ?? 'happiness', 'sadness', 'anger'];
  const provenance = {
    git: { sha: '0123456789abcdef0123456789abcdef01234567', dirty: false },
    packages: {},
    node: 'v20',
    runtime: {},
    os: 'linux',
    host: 'h',
    cpu: { model: 'x', logicalCores: 2, availableParallelism: 2 },
    memoryBytes: 1,
    gpu: null,
  };
  const row = (
    ablation: string,
    method: ResultRow['method'],
    coords: Record<string, string | number>,
    seed: number,
    open: boolean,
  ): ResultRow => {
    const cm = names.map((_, i) => names.map((_, j) => (i === j ? 5 + rng.int(5) : rng.int(3))));
    const recall = Object.fromEntries(names.map((n, i) => [n, cm[i]![i]! / cm[i]!.reduce((a, b) => a + b, 0)]));
    // the numbers follow from the confusion matrix, as readRows checks
    const total = cm.flat().reduce((a, b) => a + b, 0);
    const trace = cm.reduce((a, r, i) => a + r[i]!, 0);
    const recalls = Object.values(recall);
    const metrics: Record<string, number> = open
      ? {
          closed_set_accuracy: trace / total,
          n_known: total,
          n_unknown: 12,
          auroc_arpl: 0.7 + 0.1 * rng.next(),
          oscr_arpl: 0.5 + 0.1 * rng.next(),
          auroc_standard: 0.7,
          oscr_standard: 0.5,
          tnr_at_tpr95_arpl: 0.1,
          tnr_at_tpr95_standard: 0.1,
          n: total + 12,
        }
      : { uar: recalls.reduce((a, b) => a + b, 0) / recalls.length, war: trace / total, n: total };
    return {
      id: `${ablation}|${JSON.stringify(coords)}|seed=${seed}`,
      ablation,
      method,
      coords: coords as unknown as ResultRow['coords'],
      seed,
      metrics,
      perClassRecall: recall,
      confusionMatrix: cm,
      labelNames: names,
      ...(open
        ? {
            scores: {
              known: Array.from({ length: total }, () => 2 + rng.next()),
              unknown: Array.from({ length: 12 }, () => 1.5 + rng.next()),
            },
          }
        : {}),
      provenance,
      seconds: 1,
      finishedAt: '2026-12-01T00:00:00Z',
    };
  };
  const closed = ['class_name', 'expression_ensemble_ten'].flatMap((p) =>
    [1, 2].map((s) =>
      row(
        'exp-clip-zero-shot/demo',
        'exp-clip-zero-shot',
        { backbone: 'tiny-clip', dataset: payload ?? 'fer2013', promptType: p, preprocess: 'exp-clip' },
        s,
        false,
      ),
    ),
  );
  const open = [0, 1].map((split) =>
    row('hesp/demo', 'hesp', { backbone: payload ?? 'tiny-clip', dataset: 'mafw', split }, 0, true),
  );
  writeFileSync(join(dir, 'exp-clip-zero-shot__demo.jsonl'), closed.map((r) => `${JSON.stringify(r)}\n`).join(''));
  writeFileSync(join(dir, 'hesp__demo.jsonl'), open.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

describe('report.html in a headless browser', () => {
  it('renders every chart from disk (no server), with no console errors; screenshot', async () => {
    expect(executablePath, 'chromium is not installed (apt-get install chromium)').toBeTruthy();
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-report-'));
    syntheticResults(dir);
    writeSummary(dir);
    const { path, charts } = writeReport(dir);
    expect(charts).toBe(2 * 2 + 1 + 4 + 2); // 2 ablations × (mean ± std, per-class recall) + 1 ROC + 6 confusion matrices
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`file://${path}`);
      await page.waitForFunction('document.body.dataset.rendered !== undefined', undefined, { timeout: 30_000 });
      expect(await page.locator('.chart svg').count()).toBe(charts);
      expect(await page.locator('table tbody tr').count()).toBe(2 + 2); // summary rows: 2 prompt types, 2 splits
      expect(await page.locator('#chart-0 svg').innerHTML()).toContain('class_name');
      const roc = page.locator('.chart svg', { hasText: 'AUC' });
      expect(await roc.count()).toBe(1);
      expect(problems).toEqual([]);
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`report: ${charts} charts rendered; screenshot ${shot}`);
    } finally {
      await browser.close();
    }
  }, 120_000);
});

describe('report.html with hostile class names and run coordinates (issue 22, item 10)', () => {
  // each payload is a class name and a coordinate (dataset, backbone) of every run
  const payloads = [
    '<!--<script>',
    '</script><script>window.pwned = 1</script>',
    '<img src=x onerror="window.pwned = 1">',
    '<!--',
    'a\u2028b\u2029c',
    `"'\\&amp;]]>`,
  ];
  it('for every payload: nothing executes, every chart renders, the console stays clean', async () => {
    expect(executablePath, 'chromium is not installed (apt-get install chromium)').toBeTruthy();
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    try {
      for (const payload of payloads) {
        const dir = mkdtempSync(join(tmpdir(), 'vlfer-report-xss-'));
        syntheticResults(dir, payload);
        writeSummary(dir);
        const { path, charts } = writeReport(dir);
        expect(charts).toBe(11);
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        page.on('dialog', (d) => {
          problems.push(`dialog: ${d.message()}`);
          void d.dismiss();
        });
        await page.goto(`file://${path}`);
        // events, not deadlines: after the load event the page's last script has run (or never will), and its
        // promise settles when every chart has rendered or one failed
        expect(
          await page.evaluate('typeof window.vlferRendered'),
          `${JSON.stringify(payload)}: the chart script did not run`,
        ).toBe('object');
        await page.evaluate('window.vlferRendered');
        expect(await page.evaluate('window.pwned'), JSON.stringify(payload)).toBeUndefined();
        expect(await page.evaluate('document.body.dataset.rendered'), JSON.stringify(payload)).toBe(String(charts));
        expect(await page.locator('.chart svg').count(), JSON.stringify(payload)).toBe(charts);
        expect(await page.locator('img').count(), JSON.stringify(payload)).toBe(0);
        // the payload is shown as text: in the summary table and in the confusion-matrix axis labels
        expect(
          await page.locator('table td', { hasText: payload.slice(0, 4).replace(/[\u2028\u2029]/g, '') }).count(),
        ).toBeGreaterThan(0);
        expect(problems, JSON.stringify(payload)).toEqual([]);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 240_000);
});
