/**
 * The per-class recall chart of the report, rendered headless with vega (no browser): every run has a legend entry
 * and a colour of its own, however many runs an ablation has (a 32-run ablation's chart had no legend).
 */
import { describe, expect, it } from 'vitest';
import type { ResultRow } from './ablations.js';
import { renderSvg } from './charts.js';
import { perClassRecallSpec } from './report.js';

const CLASSES = ['happiness', 'sadness', 'anger'];
/** `n` runs, their recalls differing, without per-item outcomes (no intervals: the legend is what is tested). */
const runs = (n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      ({
        id: `ablation|run-${i}`,
        labelNames: CLASSES,
        perClassRecall: Object.fromEntries(CLASSES.map((c, k) => [c, ((i + k) % 10) / 10])),
      }) as unknown as ResultRow,
  );
const legendOf = (svg: string) =>
  [...svg.matchAll(/<g class="mark-text role-legend-label"[^>]*>(.*?)<\/g>/g)].flatMap((m) =>
    [...m[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]),
  );

describe('the per-class recall chart of the report', () => {
  it.each([4, 32])('has a legend entry for each of %i runs, in run order, each run in its own colour', async (n) => {
    const rows = runs(n);
    const labels = new Map(rows.map((r, i) => [r.id, `seed ${i}`]));
    const svg = await renderSvg(perClassRecallSpec(rows, labels, 'per-class recall'));
    expect(legendOf(svg)).toEqual(rows.map((_, i) => `seed ${i}`));
    const bars = new Set(
      [...svg.matchAll(/<g class="mark-rect role-mark layer_0_marks"[^>]*>(.*?)<\/g>/gs)].flatMap((m) =>
        [...m[1]!.matchAll(/fill="([^"]+)"/g)].map((f) => f[1]),
      ),
    );
    expect(bars.size).toBe(n);
  });
});
