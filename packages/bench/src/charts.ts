import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';
import { auroc, rocCurve } from '@vlfer/metrics';
import { loadChartModules } from './vega.js';

/**
 * A Vega-Lite v5 specification (https://vega.github.io/schema/vega-lite/v5.json) as plain JSON: what `renderSvg`
 * draws and vega-lite's `compile` takes. Declared here rather than imported from vega-lite, an optional peer
 * dependency, so that the published types resolve without it; the specs this package builds are checked against
 * vega-lite's own `TopLevelSpec` when it is built, and any `TopLevelSpec` is a `VegaLiteSpec`.
 */
export interface VegaLiteSpec {
  $schema?: string;
}

/**
 * A spec whose strings vega can compile: vega-lite writes values (a class name in a sort order, a run in a legend
 * selection) into vega expressions, whose parser rejects a raw U+2028/U+2029 ('Unexpected token ILLEGAL', and the
 * chart is not drawn). They are shown as the text `\u2028` / `\u2029`.
 */
export function chartSafe<T>(spec: T): T {
  const walk = (v: unknown): unknown =>
    typeof v === 'string'
      ? v.replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)
      : Array.isArray(v)
        ? v.map(walk)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
          : v;
  return walk(spec) as T;
}

/**
 * Render a Vega-Lite spec to an SVG string (headless, no canvas needed).
 * @throws VlferError naming vega, vega-lite and the install command when they are not installed (optional peer
 * dependencies of @vlfer/bench: `chart-packages.ts`)
 */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const { vega, vegaLite } = await loadChartModules();
  const view = new vega.View(vega.parse(vegaLite.compile(chartSafe(spec) as TopLevelSpec).spec), { renderer: 'none' });
  try {
    return numberSvgIdsInOrder(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Vega numbers the ids of gradients and clip paths from a counter of the process (`gradient_7` in the eighth chart
 * drawn), so one chart's SVG differed between a single run and a resumed or merged one: each such id is renumbered
 * from 0 in the order it appears in this SVG, with every `url(#…)` and `href="#…"` that names it.
 */
export function numberSvgIdsInOrder(svg: string): string {
  const renamed = new Map<string, string>();
  const perPrefix = new Map<string, number>();
  // prefixes: gradient_, clip, and p_gradient_ (the pattern vega wraps a radial gradient in)
  for (const [, id, prefix] of svg.matchAll(/\bid="(([A-Za-z_]*[A-Za-z]_?)\d+)"/g)) {
    if (renamed.has(id!)) continue;
    const n = perPrefix.get(prefix!) ?? 0;
    perPrefix.set(prefix!, n + 1);
    renamed.set(id!, `${prefix}${n}`);
  }
  if (renamed.size === 0) return svg;
  return svg.replace(
    /(\bid="|url\(#|href="#)(([A-Za-z_]*[A-Za-z]_?)\d+)(?=[")])/g,
    (whole, lead: string, id: string) => (renamed.has(id) ? `${lead}${renamed.get(id)}` : whole),
  );
}

/** Rasterise an SVG to PNG with sharp (librsvg). */
export async function svgToPng(svg: string, density = 144): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(svg), { density }).png().toBuffer());
}

/**
 * A confusion-matrix heat map, rows = true class, normalised per row (recall), with counts printed.
 * @param matrix C×C counts
 */
export function confusionMatrixSpec(
  names: readonly string[],
  matrix: readonly (readonly number[])[],
  title: string,
): VegaLiteSpec {
  const values = matrix.flatMap((row, i) => {
    const support = row.reduce((a, b) => a + b, 0);
    return row.map((count, j) => ({ true: names[i], predicted: names[j], count, rate: support ? count / support : 0 }));
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: 36 * names.length,
    height: 36 * names.length,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: [...names], title: 'predicted' },
      y: { field: 'true', type: 'nominal', sort: [...names], title: 'true' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: { field: 'rate', type: 'quantitative', scale: { domain: [0, 1], scheme: 'blues' }, title: 'recall' },
        },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.rate > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
  return spec;
}

/** ROC curves (known = positive) for one or more runs, with the chance diagonal. */
export function rocCurvesSpec(
  curves: readonly { name: string; knownScores: ArrayLike<number>; unknownScores: ArrayLike<number> }[],
  title: string,
): VegaLiteSpec {
  // each legend entry carries the curve's area, so a figure can be read without the summary table
  const values = curves.flatMap((c) => {
    const run = `${c.name} (AUC ${auroc(c.knownScores, c.unknownScores).toFixed(3)})`;
    return rocCurve(c.knownScores, c.unknownScores).map((p, order) => ({ run, fpr: p.fpr, tpr: p.tpr, order }));
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 300,
    height: 300,
    layer: [
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: 'line', strokeDash: [4, 4], color: 'gray' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: 'line',
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false positive rate (unknown accepted)' },
          y: { field: 'tpr', type: 'quantitative', title: 'true positive rate (known accepted)' },
          color: { field: 'run', type: 'nominal' },
          order: { field: 'order', type: 'quantitative' },
        },
      },
    ],
  };
  return spec;
}
