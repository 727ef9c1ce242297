/**
 * @file `results/report.html`: one self-contained page of the ablation results that opens from disk without a server.
 * vega and vega-lite are inlined; each chart is a vega-lite spec rendered as SVG in the page (hover shows values,
 * clicking a legend entry of a ROC chart highlights that run). They are optional peer dependencies of @vlfer/bench:
 * without them the page has no charts and says how to get them (`WriteReportOptions`). Per ablation: a summary table
 * with only the columns that hold values (mean ± std over seeds and the 95 % interval), the rest of summary.csv in a
 * details section (fingerprints shortened to 12 hex digits, the full value on hover); charts whose runs are named by
 * the coordinates that differ within the ablation, classes in label-set order, error bars from the 95 % intervals; ROC
 * curves and confusion matrices; and a comparison view: two runs on the same items, their per-class recall difference
 * and the paired tests (`statistics.ts`), computed when the report is written, so the page needs no server.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '@vlfer/core/node';
import { parseCsvText } from '@vlfer/datasets';
import { meanStd } from '@vlfer/metrics';
import { readAllRows, type ResultRow } from './ablations.js';
import { CHARTS_LEFT_OUT, chartsWanted } from './chart-packages.js';
import { chartSafe, confusionMatrixSpec, rocCurvesSpec, type VegaLiteSpec } from './charts.js';
import {
  CI_METRICS,
  coordinateKey,
  groupIntervals,
  pairedComparisons,
  perClassRecallIntervals,
  runLabels,
  STATISTICS,
  type GroupInterval,
} from './statistics.js';

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
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Metrics of the summary table, in this order, with their display names. */
const METRIC_NAMES: [string, string][] = [
  ['uar', 'UAR'],
  ['war', 'WAR'],
  ['closed_set_accuracy', 'closed-set acc.'],
  ['auroc_arpl', 'AUROC (ARPL)'],
  ['oscr_arpl', 'OSCR (ARPL)'],
  ['tnr_at_tpr95_arpl', 'TNR@95 (ARPL)'],
  ['auroc_standard', 'AUROC (standard)'],
  ['oscr_standard', 'OSCR (standard)'],
  ['tnr_at_tpr95_standard', 'TNR@95 (standard)'],
];
const nameOf = (m: string) => METRIC_NAMES.find(([k]) => k === m)?.[1] ?? m;
const COORD_NAMES: Record<string, string> = { trainSet: 'train set', promptType: 'prompt', preprocess: 'preprocess' };
/** 12 hex digits of a fingerprint, the full value on hover. */
const short = (v: string) =>
  /^[0-9a-f]{13,}$/i.test(v) ? `<abbr class="fp" title="${esc(v)}">${esc(v.slice(0, 12))}</abbr>` : esc(v);

/** One coordinate of an ablation (its runs over seeds), named by the coordinates that differ. */
interface Group {
  label: string;
  rows: ResultRow[];
  ci: Partial<Record<string, GroupInterval>>;
}

function groupsOf(rows: readonly ResultRow[]): Group[] {
  const byKey = new Map<string, ResultRow[]>();
  for (const r of rows) byKey.set(coordinateKey(r), [...(byKey.get(coordinateKey(r)) ?? []), r]);
  const reps = [...byKey.values()].map((rs) => ({ ...rs[0]!, seed: 0 }));
  const labels = runLabels(reps);
  return [...byKey.values()].map((rs) => ({ label: labels.get(rs[0]!.id)!, rows: rs, ci: groupIntervals(rs) }));
}

const intervalNote = (c: GroupInterval, g: Group) =>
  c.over === 'items'
    ? `95 % bootstrap interval over the ${g.rows[0]!.metrics.n} items (${STATISTICS.iterations} resamples, seed ${STATISTICS.seed})${g.rows.length > 1 ? `; its ${g.rows.length} seeds gave the same value` : ''}`
    : `95 % t-interval of the mean over ${g.rows.length} seeds`;

/** The summary table: run, seeds, n and the metrics that hold values, as mean ± std and the 95 % interval. */
function summaryTable(groups: readonly Group[]): string {
  const metrics = METRIC_NAMES.filter(([m]) => groups.some((g) => g.rows.some((r) => r.metrics[m] !== undefined)));
  const several = groups.some((g) => g.rows.length > 1);
  const head = ['run', ...(several ? ['seeds'] : []), 'n', ...metrics.map(([, name]) => `${name} %`)];
  const body = groups.map((g) => {
    const cells = metrics.map(([m]) => {
      if (g.rows.some((r) => r.metrics[m] === undefined)) return '<td></td>';
      const s = meanStd(g.rows.map((r) => 100 * r.metrics[m]!));
      const c = g.ci[m];
      const ci = c
        ? `<br><small title="${esc(intervalNote(c, g))}">[${(100 * c.lower).toFixed(1)}, ${(100 * c.upper).toFixed(1)}]</small>`
        : '';
      return `<td>${s.mean.toFixed(2)}${g.rows.length > 1 ? ` ± ${s.std.toFixed(2)}` : ''}${ci}</td>`;
    });
    const seeds = several ? [`<td>${esc(g.rows.map((r) => r.seed).join(' '))}</td>`] : [];
    return `<tr><th scope="row">${esc(g.label)}</th>${seeds.join('')}<td>${g.rows[0]!.metrics.n}</td>${cells.join('')}</tr>`;
  });
  return `<table class="summary"><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>${warningList(groups)}`;
}

/** What the runs warned makes their numbers suspect (`ResultRow.warnings`), under the table, by run; '' for none. */
function warningList(groups: readonly Group[]): string {
  const items = groups.flatMap((g) =>
    [...new Set(g.rows.flatMap((r) => r.warnings ?? []))].map((w) => `<li><b>${esc(g.label)}</b>: ${esc(w)}</li>`),
  );
  return items.length > 0
    ? `<p class="warnings">warnings of these runs:</p><ul class="warnings">${items.join('')}</ul>`
    : '';
}

/** summary.csv's lines of one ablation, with only the columns that hold values; fingerprints shortened. */
function detailsTable(summary: ReturnType<typeof parseCsvText> | null, id: string): string {
  if (!summary) return '';
  const records = summary.records.filter((r) => r.cells.ablation === id);
  const cols = summary.header.filter((h) => h !== 'ablation' && records.some((r) => (r.cells[h] ?? '') !== ''));
  const body = records.map((r) => `<tr>${cols.map((h) => `<td>${short(r.cells[h] ?? '')}</td>`).join('')}</tr>`);
  return `<details><summary>all columns of summary.csv (${plural(records.length, 'line')})</summary><div class="scroll"><table class="details"><thead><tr>${cols.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table></div></details>`;
}

/** Headline metrics of each coordinate (percent) as grouped bars with 95 % interval error bars. */
function metricsSpec(groups: readonly Group[], title: string): VegaLiteSpec {
  const values = groups.flatMap((g) =>
    CI_METRICS.filter((m) => g.rows.every((r) => r.metrics[m] !== undefined)).map((m) => {
      const mean = meanStd(g.rows.map((r) => 100 * r.metrics[m]!)).mean;
      const c = g.ci[m];
      return {
        run: g.label,
        metric: nameOf(m),
        mean,
        lower: c ? 100 * c.lower : mean,
        upper: c ? 100 * c.upper : mean,
        // the bar's line stays inside [0, 100] (a t-interval over 2 seeds can reach far beyond); the tooltip is exact
        low: c ? Math.max(0, 100 * c.lower) : mean,
        high: c ? Math.min(100, 100 * c.upper) : mean,
        interval: c ? (c.over === 'items' ? 'bootstrap over items' : `t over ${g.rows.length} seeds`) : 'none',
      };
    }),
  );
  const y = { field: 'run', type: 'nominal', title: null, sort: null, axis: { labelLimit: 0 } };
  const yOffset = { field: 'metric', type: 'nominal', sort: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: 360,
    height: { step: 14 },
    layer: [
      {
        mark: 'bar',
        encoding: {
          y,
          yOffset,
          x: { field: 'mean', type: 'quantitative', title: '% (bars: mean over seeds; lines: 95 % interval)' },
          color: { field: 'metric', type: 'nominal', sort: null, title: null, legend: { orient: 'top' } },
          tooltip: [
            { field: 'run' },
            { field: 'metric' },
            { field: 'mean', format: '.2f' },
            { field: 'lower', format: '.2f' },
            { field: 'upper', format: '.2f' },
            { field: 'interval' },
          ],
        },
      },
      {
        // the error bar: a thin bar from low to high (a bar mark keeps the metric's yOffset, a rule would not)
        mark: { type: 'bar', height: 2, color: 'black' },
        encoding: { y, yOffset, x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * The colour of each run in a per-run chart, with a legend for any number of runs: beside the chart up to 12 runs,
 * under it in rows of 4 beyond (a 32-run ablation's chart had no legend at all). Past 10 runs the colours are that
 * many evenly spaced steps of one scheme, so no two runs share one (category10 repeats its colours from the 11th).
 */
export function runColour(runs: number): Record<string, unknown> {
  const legend =
    runs <= 12
      ? { labelLimit: 0, symbolLimit: 0 }
      : { orient: 'bottom', direction: 'horizontal', columns: 4, labelLimit: 0, symbolLimit: 0 };
  return {
    field: 'run',
    type: 'nominal',
    sort: null,
    legend,
    ...(runs > 10 ? { scale: { scheme: { name: 'turbo', count: runs } } } : {}),
  };
}

/**
 * Per-class recall of every run, classes in label-set order, one bar per run within each class, with its 95 %
 * bootstrap interval over the class's items (`perClassRecallIntervals`) as a line on the bar.
 * @param labels each row id's label in the chart (its legend entry)
 */
export function perClassRecallSpec(
  rows: readonly ResultRow[],
  labels: Map<string, string>,
  title: string,
): VegaLiteSpec {
  const classes = [...new Set(rows.flatMap((r) => r.labelNames))];
  const values = rows.flatMap((r) => {
    const ci = perClassRecallIntervals(r);
    return r.labelNames
      .filter((c) => r.perClassRecall[c] !== null && r.perClassRecall[c] !== undefined)
      .map((c) => ({
        run: labels.get(r.id)!,
        class: c,
        recall: 100 * r.perClassRecall[c]!,
        lower: ci[c] ? 100 * ci[c].lower : null,
        upper: ci[c] ? 100 * ci[c].upper : null,
      }));
  });
  const x = { field: 'class', type: 'nominal', title: null, sort: classes, axis: { labelLimit: 0 } };
  const xOffset = { field: 'run', sort: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: { step: Math.max(3, Math.min(12, Math.floor(640 / Math.max(1, rows.length * classes.length)))) },
    height: 160,
    layer: [
      {
        mark: 'bar',
        encoding: {
          x,
          xOffset,
          y: { field: 'recall', type: 'quantitative', title: "recall % (lines: 95 % interval over the class's items)" },
          color: runColour(rows.length),
          tooltip: [
            { field: 'run' },
            { field: 'class' },
            { field: 'recall', format: '.1f' },
            { field: 'lower', format: '.1f' },
            { field: 'upper', format: '.1f' },
          ],
        },
      },
      {
        // the interval: a thin bar from lower to upper (a bar mark keeps the run's xOffset, a rule would not)
        transform: [{ filter: 'datum.lower !== null' }],
        mark: { type: 'bar', width: 2, color: 'black' },
        encoding: { x, xOffset, y: { field: 'lower', type: 'quantitative' }, y2: { field: 'upper' } },
      },
    ],
  } as TopLevelSpec;
}

/** The ablation's ROC curves with a legend selection: clicking a run highlights its curve. */
function interactiveRoc(rows: readonly ResultRow[], labels: Map<string, string>, title: string): VegaLiteSpec {
  const spec = rocCurvesSpec(
    rows
      .filter((r) => r.scores)
      .map((r) => ({ name: labels.get(r.id)!, knownScores: r.scores!.known, unknownScores: r.scores!.unknown })),
    title,
  ) as unknown as { layer: { mark: unknown; encoding: Record<string, unknown>; params?: unknown[] }[] };
  const curves = spec.layer[1]!;
  curves.params = [{ name: 'pick', select: { type: 'point', fields: ['run'] }, bind: 'legend' }];
  curves.encoding.opacity = { condition: { param: 'pick', value: 1 }, value: 0.15 };
  curves.encoding.color = { field: 'run', type: 'nominal', legend: { labelLimit: 0 } };
  curves.encoding.tooltip = [{ field: 'run' }, { field: 'fpr', format: '.3f' }, { field: 'tpr', format: '.3f' }];
  return spec as unknown as VegaLiteSpec;
}

/** What the comparison view of one ablation needs: its runs' per-class recall and the paired tests of its pairs. */
function comparisonData(rows: readonly ResultRow[], labels: Map<string, string>) {
  const classes = [...new Set(rows.flatMap((r) => r.labelNames))];
  const index = new Map(rows.map((r, i) => [r.id, i]));
  const pairs = pairedComparisons(rows).pairs.map((p) => ({
    a: index.get(p.a.id)!,
    b: index.get(p.b.id)!,
    n: p.n,
    tests: Object.entries(p.tests).map(([m, t]) => ({
      metric: nameOf(m),
      difference: 100 * t.difference,
      lower: 100 * t.lower,
      upper: 100 * t.upper,
      p: t.pValue,
      permutationP: t.permutationP,
    })),
  }));
  return {
    classes,
    runs: rows.map((r) => ({
      label: labels.get(r.id)!,
      recall: classes.map((c) => (r.perClassRecall[c] === undefined ? null : r.perClassRecall[c])),
    })),
    pairs,
    iterations: STATISTICS.iterations,
    permutations: STATISTICS.permutations,
  };
}

/** The comparison view's markup (filled by the page script from `comparisons`). */
const comparisonHtml = (cid: string, runs: number) =>
  runs < 2
    ? ''
    : `<details class="compare" open><summary>compare two runs</summary><div id="${cid}" class="cmp"><label>run A <select class="a"></select></label> <label>minus run B <select class="b"></select></label><div class="out"></div></div></details>`;

/** Browser code of the comparison view: text only through textContent, so no data can become markup. */
const COMPARE_SCRIPT = `
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function row(cells, head) { const tr = el('tr'); cells.forEach((c, i) => { const td = el(head ? 'th' : 'td'); if (c instanceof Node) td.append(c); else td.textContent = c; tr.append(td); }); return tr; }
const fmt = (v) => v === null ? '–' : v.toFixed(2);
const fmtP = (p) => p === null ? '–' : p < 0.001 ? '< 0.001' : p.toPrecision(2);
function bar(d) { const s = el('span', '', 'bar ' + (d >= 0 ? 'pos' : 'neg')); s.style.width = Math.min(100, Math.abs(d)) + 'px'; return s; }
function showComparison(c, root) {
  const a = Number(root.querySelector('select.a').value), b = Number(root.querySelector('select.b').value);
  const out = root.querySelector('.out'); out.replaceChildren();
  if (a === b) { out.append(el('p', 'Pick two different runs.')); return; }
  const pair = c.pairs.find((p) => (p.a === a && p.b === b) || (p.a === b && p.b === a));
  if (!pair) out.append(el('p', 'No paired test: these runs are not on the same items, or the ablation is too large to compare every pair (each run is then compared with its reference run, the first in registry order; see paired.csv).', 'nopair'));
  else {
    const tests = el('table', undefined, 'tests');
    tests.append(row(['metric', 'A − B (pp)', '95 % CI (paired bootstrap)', 'p (paired bootstrap)', 'p (permutation)'], true));
    const s = pair.a === a ? 1 : -1;
    for (const t of pair.tests) {
      const [lo, hi] = s === 1 ? [t.lower, t.upper] : [-t.upper, -t.lower];
      tests.append(row([t.metric, fmt(s * t.difference), '[' + fmt(lo) + ', ' + fmt(hi) + ']', fmtP(t.p), fmtP(t.permutationP)]));
    }
    out.append(el('p', 'Paired over the same ' + pair.n + ' items: ' + c.iterations + ' bootstrap resamples, ' + c.permutations + ' permutations (seeded).'), tests);
  }
  const recall = el('table', undefined, 'recall');
  recall.append(row(['class', 'recall A %', 'recall B %', 'A − B (pp)', ''], true));
  c.classes.forEach((name, k) => {
    const ra = c.runs[a].recall[k], rb = c.runs[b].recall[k];
    const d = ra === null || rb === null ? null : 100 * (ra - rb);
    recall.append(row([name, ra === null ? '–' : fmt(100 * ra), rb === null ? '–' : fmt(100 * rb), fmt(d), d === null ? '' : bar(d)]));
  });
  out.append(el('p', 'Per-class recall, classes in label-set order:'), recall);
}
for (const [cid, c] of Object.entries(comparisons)) {
  const root = document.getElementById(cid);
  const [sa, sb] = [root.querySelector('select.a'), root.querySelector('select.b')];
  for (const sel of [sa, sb]) c.runs.forEach((r, i) => sel.add(new Option(r.label, String(i))));
  sa.value = '1'; sb.value = '0';
  sa.addEventListener('change', () => showComparison(c, root));
  sb.addEventListener('change', () => showComparison(c, root));
  showComparison(c, root);
}
`;

/**
 * The HTML section of one ablation: the summary and details tables, its charts (added to `charts`, with ids the page's
 * script renders; none when `charts` is null), and the paired comparison of its runs (added to `comparisons`).
 */
function ablationSection(
  id: string,
  rows: readonly ResultRow[],
  summary: ReturnType<typeof parseCsvText> | null,
  charts: { id: string; spec: VegaLiteSpec }[] | null,
  comparisons: Record<string, ReturnType<typeof comparisonData>>,
  index: number,
): string {
  // a spec is only built (per-class intervals are bootstrapped) when the chart is drawn
  const chart = (spec: () => VegaLiteSpec) => {
    if (!charts) return '';
    const cid = `chart-${charts.length}`;
    charts.push({ id: cid, spec: chartSafe(spec()) });
    return `<div class="chart" id="${cid}"></div>`;
  };
  const labels = runLabels(rows);
  const groups = groupsOf(rows);
  const cid = `compare-${index}`;
  if (rows.length > 1) comparisons[cid] = comparisonData(rows, labels);
  const sha = rows[0]!.provenance?.git?.sha;
  const methods = [...new Set(rows.map((r) => r.method))];
  const constant = Object.entries(rows[0]!.coords).filter(([k, v]) =>
    rows.every((r) => (r.coords as unknown as Record<string, unknown>)[k] === v),
  );
  return [
    `<section><h2>${esc(id)}</h2>`,
    `<p>${plural(rows.length, 'run')}, method${methods.length > 1 ? 's' : ''} ${esc(methods.join(', '))}; ${constant.map(([k, v]) => `${esc(COORD_NAMES[k] ?? k)} <b>${esc(String(v))}</b>`).join(', ')}; code ${sha ? short(sha) : 'unknown'}${rows[0]!.provenance?.git?.dirty ? ' (uncommitted changes)' : ''}</p>`,
    summaryTable(groups),
    detailsTable(summary, id),
    chart(() => metricsSpec(groups, `${id}: headline metrics with 95 % intervals`)),
    chart(() => perClassRecallSpec(rows, labels, `${id}: per-class recall`)),
    rows.some((r) => r.scores)
      ? chart(() => interactiveRoc(rows, labels, `${id}: known vs unknown (click a legend entry)`))
      : '',
    comparisonHtml(cid, rows.length),
    charts
      ? `<details><summary>confusion matrices (${rows.length})</summary><div class="grid">${rows.map((r) => chart(() => confusionMatrixSpec(r.labelNames, r.confusionMatrix, labels.get(r.id)!))).join('')}</div></details>`
      : '',
    '</section>',
  ].join('\n');
}

/** The report page's style sheet. */
const STYLE = `<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1220px;padding:0 1em;color:#222}
h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}
thead th{background:#f3f3f3}
table.summary{width:100%}
.warnings{color:#8a4b00}
table.summary th[scope=row]{text-align:left;font-weight:normal;overflow-wrap:anywhere;max-width:26em}
small{color:#666}
abbr.fp{font-family:monospace;text-decoration:underline dotted}
.chart{margin:1em 0;max-width:100%;overflow-x:auto}
.scroll{max-width:100%;overflow-x:auto}
.grid{display:flex;flex-wrap:wrap;gap:1em}
details{margin:1em 0}
.cmp label{margin-right:1em}
.cmp select{max-width:28em}
.bar{display:inline-block;height:10px}
.bar.pos{background:#2a7}.bar.neg{background:#c44}
td:first-child{text-align:left}
</style>`;

/** Options of `writeReport`. */
export interface WriteReportOptions {
  /**
   * The charts of the page, drawn in it by vega and vega-lite inlined into it (optional peer dependencies of this
   * package): `true` draws them and throws, naming the install command, when they are not installed; `false`
   * leaves them out; by default they are drawn when both are installed, else left out, and `log` says so. Without
   * charts the page has the tables and the comparison view, and says how to get them.
   */
  charts?: boolean;
  /** where the line about charts left out for want of vega goes (default: stderr) */
  log?: (line: string) => void;
}

/**
 * Write `results/report.html` from the results directory (`<ablation>.jsonl` files and `summary.csv`).
 * @returns the path written and how many charts it holds
 * @throws VlferError with `charts: true` when vega or vega-lite is not installed
 */
export function writeReport(resultsDir: string, options: WriteReportOptions = {}): { path: string; charts: number } {
  const draw = chartsWanted(options.charts, options.log ?? ((l: string) => process.stderr.write(`${l}\n`)));
  const all = readAllRows(resultsDir);
  const summaryFile = join(resultsDir, 'summary.csv');
  const summary = existsSync(summaryFile) ? parseCsvText(readFileSync(summaryFile, 'utf8'), summaryFile) : null;
  const charts: { id: string; spec: VegaLiteSpec }[] | null = draw ? [] : null;
  const comparisons: Record<string, ReturnType<typeof comparisonData>> = {};
  const sections: string[] = [];
  const ablations = [...new Set(all.map((r) => r.ablation))];
  for (const id of ablations)
    sections.push(
      ablationSection(
        id,
        all.filter((r) => r.ablation === id),
        summary,
        charts,
        comparisons,
        sections.length,
      ),
    );
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>vlfer ablation report</title>
${STYLE}
${charts ? `<script>${inlineScript('vega', 'build/vega.min.js')}</script>\n<script>${inlineScript('vega-lite', 'build/vega-lite.min.js')}</script>` : ''}
</head><body>
<h1>vlfer ablation report</h1>
<p>From ${esc(resultsDir)}; ${plural(ablations.length, 'ablation')}. Numbers are percent: mean ± sample std over seeds, and below it the 95 % interval: a percentile bootstrap over the run's items with one seed, the t-interval of the mean with several (hover for which). Runs are named by the coordinates that differ within their ablation. The same numbers are in summary.csv, the paired tests in paired.csv.</p>
${charts ? '' : `<p class="note">${esc(CHARTS_LEFT_OUT)}</p>\n`}${sections.join('\n') || '<p>No results yet.</p>'}
<script>
const charts = ${scriptJson(charts ?? [])};
const comparisons = ${scriptJson(comparisons)};
${COMPARE_SCRIPT}
window.vlferRendered = Promise.all(charts.map(async ({ id, spec }) => {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'svg', container: '#' + id, hover: true });
  await view.runAsync();
})).then(() => { document.body.dataset.rendered = String(charts.length); });
</script>
</body></html>
`;
  const path = join(resultsDir, 'report.html');
  writeFileAtomic(path, html);
  return { path, charts: charts?.length ?? 0 };
}
