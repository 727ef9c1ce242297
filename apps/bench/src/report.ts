/**
 * @file `results/report.html`: one self-contained page of the ablation results that opens from disk without a server.
 * vega and vega-lite are inlined; each chart is a vega-lite spec rendered as SVG in the page (hover shows values,
 * clicking a legend entry of a ROC chart highlights that run). Per ablation: the summary table (the CSV's rows),
 * mean ± std over seeds, per-class recall, ROC curves with AUC (open-set runs) and each run's confusion matrix.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '@vlfer/core/node';
import { parseCsvText } from '@vlfer/datasets';
import { meanStd } from '@vlfer/metrics';
import { overlayRocSpec, readRows, runLabel, type ResultRow } from './ablations.js';
import { chartSafe, confusionMatrixSpec } from './charts.js';

const require = createRequire(import.meta.url);
/** A UMD build from node_modules, safe to put inside a <script> element. */
const inlineScript = (pkg: string, file: string) =>
  readFileSync(join(require.resolve(`${pkg}/package.json`), '..', file), 'utf8').replaceAll('</script', '<\\/script');
/**
 * JSON for a <script> element: `<`, `>` and `&` as \\u escapes, so no data (a class name `<!--<script>`, a
 * coordinate `</script>`) can end the element or switch the HTML parser into its escaped states; U+2028/9 too.
 */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Mean ± sample std over seeds of the headline metrics of each coordinate (percent), as bars with error bars. */
function meanStdSpec(rows: readonly ResultRow[], title: string): TopLevelSpec {
  const metrics = rows.some((r) => r.metrics.auroc_arpl !== undefined)
    ? ['closed_set_accuracy', 'auroc_arpl', 'oscr_arpl']
    : ['uar', 'war'];
  const groups = new Map<string, ResultRow[]>(); // one bar per coordinate, over its seeds
  for (const r of rows) {
    const k = Object.values(r.coords).join(' ');
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const values = [...groups].flatMap(([run, rs]) =>
    metrics.map((m) => {
      const s = meanStd(rs.map((r) => 100 * (r.metrics[m] ?? Number.NaN)));
      return {
        run,
        metric: m,
        mean: s.mean,
        low: s.mean - (rs.length > 1 ? s.std : 0),
        high: s.mean + (rs.length > 1 ? s.std : 0),
        seeds: rs.length,
      };
    }),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 220,
      height: { step: 14 },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'run', type: 'nominal', title: null, sort: null },
            x: { field: 'mean', type: 'quantitative', title: '% (mean over seeds)' },
            tooltip: [{ field: 'run' }, { field: 'metric' }, { field: 'mean', format: '.2f' }, { field: 'seeds' }],
          },
        },
        {
          mark: { type: 'rule', color: 'black' },
          encoding: {
            y: { field: 'run', type: 'nominal', sort: null },
            x: { field: 'low', type: 'quantitative' },
            x2: { field: 'high' },
          },
        },
      ],
    },
  } as TopLevelSpec;
}

/** Per-class recall of every run, one bar per run within each class. */
function perClassRecallSpec(rows: readonly ResultRow[], title: string): TopLevelSpec {
  const values = rows.flatMap((r) =>
    Object.entries(r.perClassRecall)
      .filter(([, v]) => v !== null)
      .map(([cls, v]) => ({ run: runLabel(r), class: cls, recall: 100 * v! })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: { step: 8 },
    height: 160,
    mark: 'bar',
    encoding: {
      x: { field: 'class', type: 'nominal', title: null },
      xOffset: { field: 'run' },
      y: { field: 'recall', type: 'quantitative', title: 'recall %' },
      color: { field: 'run', type: 'nominal', legend: rows.length <= 12 ? {} : null },
      tooltip: [{ field: 'run' }, { field: 'class' }, { field: 'recall', format: '.1f' }],
    },
  } as TopLevelSpec;
}

/** The ablation's ROC overlay with a legend selection: clicking a run highlights its curve. */
function interactiveRoc(id: string, rows: readonly ResultRow[], title: string): TopLevelSpec {
  const spec = overlayRocSpec(id, rows, title) as {
    layer: { mark: unknown; encoding: Record<string, unknown>; params?: unknown[] }[];
  };
  const curves = spec.layer[1]!;
  curves.params = [{ name: 'pick', select: { type: 'point', fields: ['run'] }, bind: 'legend' }];
  curves.encoding.opacity = { condition: { param: 'pick', value: 1 }, value: 0.15 };
  curves.encoding.tooltip = [{ field: 'run' }, { field: 'fpr', format: '.3f' }, { field: 'tpr', format: '.3f' }];
  return spec as unknown as TopLevelSpec;
}

/**
 * Write `results/report.html` from the results directory (`<ablation>.jsonl` files and `summary.csv`).
 * @returns the path written and how many charts it holds
 */
export function writeReport(resultsDir: string): { path: string; charts: number } {
  const files = existsSync(resultsDir)
    ? readdirSync(resultsDir)
        .filter((f) => f.endsWith('.jsonl'))
        .sort()
    : [];
  const summaryFile = join(resultsDir, 'summary.csv');
  const summary = existsSync(summaryFile) ? parseCsvText(readFileSync(summaryFile, 'utf8'), summaryFile) : null;
  const charts: { id: string; spec: TopLevelSpec }[] = [];
  const sections: string[] = [];
  for (const f of files) {
    const rows = readRows(join(resultsDir, f));
    if (rows.length === 0) continue;
    const id = rows[0]!.ablation;
    const chart = (spec: TopLevelSpec) => {
      const cid = `chart-${charts.length}`;
      charts.push({ id: cid, spec: chartSafe(spec) });
      return `<div class="chart" id="${cid}"></div>`;
    };
    const table = summary
      ? (() => {
          const cols = summary.header.filter((h) => h !== 'ablation');
          const body = summary.records
            .filter((r) => r.cells.ablation === id)
            .map((r) => `<tr>${cols.map((h) => `<td>${esc(r.cells[h] ?? '')}</td>`).join('')}</tr>`)
            .join('');
          return `<table><thead><tr>${cols.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
        })()
      : '';
    const open = rows.filter((r) => r.scores);
    sections.push(
      [
        `<section><h2>${esc(id)}</h2><p>${rows.length} runs, method ${esc(rows[0]!.method)}; code ${esc(rows[0]!.provenance?.git?.sha?.slice(0, 12) ?? 'unknown')}${rows[0]!.provenance?.git?.dirty ? ' (uncommitted changes)' : ''}</p>`,
        table,
        chart(meanStdSpec(rows, `${id}: mean ± std over seeds`)),
        chart(perClassRecallSpec(rows, `${id}: per-class recall`)),
        open.length ? chart(interactiveRoc(id, rows, `${id}: known vs unknown (click a legend entry)`)) : '',
        `<details><summary>confusion matrices (${rows.length})</summary><div class="grid">${rows.map((r) => chart(confusionMatrixSpec(r.labelNames, r.confusionMatrix, runLabel(r)))).join('')}</div></details>`,
        '</section>',
      ].join('\n'),
    );
  }
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vlfer ablation report</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}.chart{margin:1em 0}.grid{display:flex;flex-wrap:wrap;gap:1em}details{margin:1em 0}</style>
<script>${inlineScript('vega', 'build/vega.min.js')}</script>
<script>${inlineScript('vega-lite', 'build/vega-lite.min.js')}</script>
</head><body>
<h1>vlfer ablation report</h1>
<p>From ${esc(resultsDir)}; ${files.length} ablations. Numbers are percent; std is the sample std over seeds. The same tables are in summary.csv.</p>
${sections.join('\n') || '<p>No results yet.</p>'}
<script>
const charts = ${scriptJson(charts)};
window.vlferRendered = Promise.all(charts.map(async ({ id, spec }) => {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'svg', container: '#' + id, hover: true });
  await view.runAsync();
})).then(() => { document.body.dataset.rendered = String(charts.length); });
</script>
</body></html>
`;
  const path = join(resultsDir, 'report.html');
  writeFileAtomic(path, html);
  return { path, charts: charts.length };
}
