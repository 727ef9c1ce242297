import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { auroc, rocCurve } from '@vlfer/metrics';

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

/** Render a Vega-Lite spec to an SVG string (headless, no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(chartSafe(spec)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
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
): TopLevelSpec {
  const values = matrix.flatMap((row, i) => {
    const support = row.reduce((a, b) => a + b, 0);
    return row.map((count, j) => ({ true: names[i], predicted: names[j], count, rate: support ? count / support : 0 }));
  });
  return {
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
}

/** ROC curves (known = positive) for one or more runs, with the chance diagonal. */
export function rocCurvesSpec(
  curves: readonly { name: string; knownScores: ArrayLike<number>; unknownScores: ArrayLike<number> }[],
  title: string,
): TopLevelSpec {
  // each legend entry carries the curve's area, so a figure can be read without the summary table
  const values = curves.flatMap((c) => {
    const run = `${c.name} (AUC ${auroc(c.knownScores, c.unknownScores).toFixed(3)})`;
    return rocCurve(c.knownScores, c.unknownScores).map((p, order) => ({ run, fpr: p.fpr, tpr: p.tpr, order }));
  });
  return {
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
}
