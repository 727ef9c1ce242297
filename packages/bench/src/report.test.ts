/**
 * The ablation report opened in a real headless browser (Debian's chromium, driven by playwright-core): every chart
 * renders (an SVG per chart), the console stays clean, and a screenshot is written. Needs `chromium` on PATH
 * (`apt-get install chromium`; `.ci/run` installs it); without it the test fails and says so.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium, type Page } from 'playwright-core';
import { createRng } from '@vlfer/core';
import { auroc, classificationReport } from '@vlfer/metrics';
import { describe, expect, it } from 'vitest';
import { readAllRows, writeSummary, type ResultRow } from './ablations.js';
import { itemOutcomes } from './items.js';
import { writeReport } from './report.js';
import { pairedComparisons } from './statistics.js';

const executablePath =
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ??
  spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();

/**
 * Result rows as bench:ablations writes them: a closed-set grid (2 prompt types × 2 seeds) and an open-set one (2
 * splits), and a one-run ablation. Every row's numbers follow from its per-item outcomes (`items`), as readRows checks.
 */
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
    // 8 items per class (the same items in every run of an ablation), 60 % predicted right; open-set: 12 unknowns
    const labels = Array.from({ length: 24 }, (_, i) => i % 3);
    const predicted = labels.map((l) => (rng.next() < 0.6 ? l : rng.int(3)));
    const rep = classificationReport(labels, predicted, 3);
    const recall = Object.fromEntries(names.map((n, i) => [n, rep.perClassRecall[i]!]));
    const known = labels.map(() => 2 + rng.next());
    const unknown = Array.from({ length: 12 }, () => 1.5 + rng.next());
    const ids = [...labels, ...unknown].map((_, i) => `clips/${String(i).padStart(3, '0')}`);
    const metrics: Record<string, number> = open
      ? {
          closed_set_accuracy: rep.war,
          n_known: 24,
          n_unknown: 12,
          auroc_arpl: auroc(known, unknown, { ties: 'zero' }),
          oscr_arpl: 0.5 + 0.1 * rng.next(),
          auroc_standard: auroc(known, unknown),
          oscr_standard: 0.5,
          tnr_at_tpr95_arpl: 0.1,
          tnr_at_tpr95_standard: 0.1,
          n: 36,
        }
      : { uar: rep.uar, war: rep.war, n: 24 };
    return {
      id: `${ablation}|${JSON.stringify(coords)}|seed=${seed}`,
      ablation,
      method,
      coords: coords as unknown as ResultRow['coords'],
      seed,
      metrics,
      perClassRecall: recall,
      confusionMatrix: rep.confusionMatrix,
      labelNames: names,
      ...(open
        ? {
            scores: { known, unknown },
            items: itemOutcomes(
              ids,
              [...labels, ...unknown.map(() => -1)],
              [...predicted, ...unknown.map(() => 0)],
              [...known, ...unknown],
            ),
          }
        : { items: itemOutcomes(ids.slice(0, 24), labels, predicted) }),
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
  const single = [
    row('supervised/demo', 'face-api', { backbone: 'face-api-expression', dataset: 'fer2013' }, 1, false),
  ];
  writeFileSync(join(dir, 'exp-clip-zero-shot__demo.jsonl'), closed.map((r) => `${JSON.stringify(r)}\n`).join(''));
  writeFileSync(join(dir, 'hesp__demo.jsonl'), open.map((r) => `${JSON.stringify(r)}\n`).join(''));
  writeFileSync(join(dir, 'supervised__demo.jsonl'), single.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** The little of the DOM's Element these tests read (the project's TypeScript has no DOM library). */
interface El {
  textContent: string | null;
  children: ArrayLike<El>;
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): ArrayLike<El>;
  getBoundingClientRect(): { right: number };
}

/** The page's console errors and warnings and its uncaught errors, collected as they come (a clean page has none). */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return problems;
}
/** Texts of an SVG's axis labels, in document order. */
const axisLabels = (page: Page, chart: string, axis: 'x' | 'y') =>
  page
    .locator(`#${chart} svg .role-axis`)
    .evaluateAll(
      (axes, want: string) =>
        (axes as El[])
          .filter((a) => (a.getAttribute('aria-label') ?? '').toLowerCase().startsWith(want))
          .flatMap((a) => Array.from(a.querySelectorAll('.role-axis-label text'), (t) => t.textContent ?? '')),
      axis === 'x' ? 'x-axis' : 'y-axis',
    );

describe('report.html in a headless browser', () => {
  it('renders every chart from disk (no server), with no console errors; screenshot', async () => {
    expect(executablePath, 'chromium is not installed (apt-get install chromium)').toBeTruthy();
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-report-'));
    syntheticResults(dir);
    writeSummary(dir);
    const { path, charts } = writeReport(dir);
    // 3 ablations × (metrics, per-class recall) + 1 ROC + 7 confusion matrices
    expect(charts).toBe(3 * 2 + 1 + 7);
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const problems = watchProblems(page);
      await page.goto(`file://${path}`);
      await page.waitForFunction('document.body.dataset.rendered !== undefined', undefined, { timeout: 30_000 });
      expect(await page.locator('.chart svg').count()).toBe(charts);
      expect(await page.locator('table.summary tbody tr').count()).toBe(2 + 2 + 1); // 2 prompt types, 2 splits, 1
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

  it('issue 27 §2: only columns with values, short fingerprints, full labels, one class order, error bars, "1 run", comparison view, 1280 px without horizontal scroll', async () => {
    expect(executablePath, 'chromium is not installed (apt-get install chromium)').toBeTruthy();
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-report-27-'));
    syntheticResults(dir);
    writeSummary(dir);
    const { path } = writeReport(dir);
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems = watchProblems(page);
      await page.goto(`file://${path}`);
      await page.waitForFunction('document.body.dataset.rendered !== undefined', undefined, { timeout: 30_000 });
      // the page fits 1280 px: no horizontal scroll, the summary tables inside the viewport
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1280);
      for (const box of await page
        .locator('table.summary')
        .evaluateAll((ts) => (ts as El[]).map((t) => t.getBoundingClientRect().right)))
        expect(box).toBeLessThanOrEqual(1280);
      // every column of a summary table holds a value in some row; closed-set tables have no open-set columns
      const columns = await page.locator('table.summary').evaluateAll((ts) =>
        (ts as El[]).map((t) => {
          const head = Array.from(t.querySelectorAll('thead th'), (h) => h.textContent ?? '');
          const rows = Array.from(t.querySelectorAll('tbody tr'), (r) =>
            Array.from(r.children, (c) => c.textContent ?? ''),
          );
          return { head, empty: head.filter((_, i) => rows.every((r) => r[i] === '')) };
        }),
      );
      expect(columns.map((c) => c.empty)).toEqual([[], [], []]);
      expect(columns[0]!.head).toEqual(['run', 'seeds', 'n', 'UAR %', 'WAR %']);
      expect(columns[1]!.head).not.toContain('UAR %');
      // mean ± std and the interval under it; hover names the interval
      const cell = page.locator('table.summary').first().locator('tbody tr').first().locator('td').nth(2);
      expect(await cell.textContent()).toMatch(/^\d+\.\d\d ± \d+\.\d\d\[-?\d+\.\d, \d+\.\d\]$/);
      expect(await cell.locator('small').getAttribute('title')).toMatch(/t-interval of the mean over 2 seeds/);
      const one = page.locator('table.summary').nth(2).locator('tbody td').nth(1);
      expect(await one.locator('small').getAttribute('title')).toMatch(/bootstrap interval over the 24 items/);
      // "1 run", not "1 runs"
      const intros = await page.locator('section > p').allTextContents();
      expect(intros.map((t) => t.split(',')[0])).toEqual(['4 runs', '2 runs', '1 run']);
      // fingerprints: 12 hex, the full value on hover (code in the intro, git_sha in the details table)
      const fp = page.locator('abbr.fp').first();
      expect(await fp.textContent()).toBe('0123456789ab');
      expect(await fp.getAttribute('title')).toBe('0123456789abcdef0123456789abcdef01234567');
      expect(await page.locator('table.details td abbr.fp').count()).toBe(5);
      // chart labels: the coordinates that differ, in full (prompt type, seed), never cut
      const recallLegend = await page.locator('#chart-1 svg .role-legend-label text').allTextContents();
      expect(recallLegend).toEqual([
        'class_name · seed 1',
        'class_name · seed 2',
        'expression_ensemble_ten · seed 1',
        'expression_ensemble_ten · seed 2',
      ]);
      expect(await axisLabels(page, 'chart-0', 'y')).toEqual(['class_name', 'expression_ensemble_ten']);
      expect(await axisLabels(page, 'chart-6', 'y')).toEqual(['split 0', 'split 1']);
      // one class order (the label set's) in the per-class recall chart and the confusion matrices
      expect(await axisLabels(page, 'chart-1', 'x')).toEqual(['happiness', 'sadness', 'anger']);
      expect(await axisLabels(page, 'chart-2', 'x')).toEqual(['happiness', 'sadness', 'anger']);
      // error bars: one rule per bar of the headline-metrics chart (2 coordinates × UAR, WAR)
      expect(await page.locator('#chart-0 svg g.mark-rect.role-mark.layer_1_marks path').count()).toBe(4);
      // each error bar lies on its own bar (the metric's offset within the run's band), not between two bars
      const middles = async (layer: string) =>
        (await page.locator(`#chart-0 svg g.mark-rect.role-mark.${layer} path`).evaluateAll((ps) =>
          (ps as El[]).map((p) => {
            const b = p.getBoundingClientRect() as unknown as { top: number; bottom: number };
            return [b.top, b.bottom];
          }),
        )) as [number, number][];
      const [bars, errors] = [await middles('layer_0_marks'), await middles('layer_1_marks')];
      errors.forEach(([t, b], i) => {
        const mid = (t + b) / 2;
        expect(mid, `error bar ${i}`).toBeGreaterThan(bars[i]![0]);
        expect(mid, `error bar ${i}`).toBeLessThan(bars[i]![1]);
      });
      // comparison view: run A = second run, B = the first; paired tests and per-class recall difference
      const cmp = page.locator('.cmp').first();
      const tests = () => cmp.locator('table.tests tr').allTextContents();
      const { pairs } = pairedComparisons(readAllRows(dir));
      const pair = pairs.find((p) => p.a.id.includes('"class_name"') && p.a.seed === 2 && p.b.seed === 1)!;
      const uar = pair.tests.uar!;
      const want = `UAR${(100 * uar.difference).toFixed(2)}[${(100 * uar.lower).toFixed(2)}, ${(100 * uar.upper).toFixed(2)}]`;
      expect((await tests())[1]).toContain(want);
      expect(await cmp.locator('table.recall tr td:first-child').allTextContents()).toEqual([
        'happiness',
        'sadness',
        'anger',
      ]);
      // swapping A and B flips the sign and the interval
      await cmp.locator('select.a').selectOption('0');
      await cmp.locator('select.b').selectOption('1');
      expect((await tests())[1]).toContain(
        `UAR${(-100 * uar.difference).toFixed(2)}[${(-100 * uar.upper).toFixed(2)}, ${(-100 * uar.lower).toFixed(2)}]`,
      );
      // runs on other items (the two HESP splits) are not paired: the view says so, and shows no test
      const hesp = page.locator('.cmp').nth(1);
      expect(await hesp.locator('.nopair').textContent()).toMatch(/not on the same items/);
      expect(await hesp.locator('table.tests tr').count()).toBe(0);
      expect(await hesp.locator('table.recall tr').count()).toBe(1 + 3);
      expect(await page.locator('.cmp').count()).toBe(2); // no comparison for the one-run ablation
      expect(problems).toEqual([]);
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
        expect(charts).toBe(14);
        const page = await browser.newPage();
        const problems = watchProblems(page);
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
        // the payload is shown as text: in the summary tables and in the confusion-matrix axis labels
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
