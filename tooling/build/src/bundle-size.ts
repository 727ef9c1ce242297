/**
 * @file Bundle-size budgets of the published packages, and the check that their named exports are static (a misspelt
 * named import must fail at bundle time, not be `undefined` at run time). Run by `pnpm test:consumer` (`.ci/run`) on
 * the installed tarballs: each budget's entry is bundled by esbuild as a browser app would (ESM, minified, tree-shaken,
 * the packages' `sideEffects` honoured) and its gzip size (level 9) is compared with the budget.
 */
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';

/** One bundle to measure: an ESM entry (`code`) and the most its minified bundle may weigh after gzip, in bytes. */
export interface Budget {
  name: string;
  code: string;
  maxGzipBytes: number;
}

/** One entry that must NOT bundle (a misspelt named import). */
export interface MustFail {
  name: string;
  code: string;
}

export const BUDGETS: Budget[] = [
  {
    name: 'one metrics function: { unweightedAverageRecall } from @vlfer/metrics',
    code: "export { unweightedAverageRecall } from '@vlfer/metrics';",
    maxGzipBytes: 5 * 1024,
  },
  // 13 KB since 2026-12-07: Student's t kept to its digits at any df and t (expansion, normal tail) took it to 12.4
  { name: 'all of @vlfer/metrics', code: "export * from '@vlfer/metrics';", maxGzipBytes: 13 * 1024 },
  {
    name: '@vlfer/faces runtime-neutral entry (all of it)',
    code: "export * from '@vlfer/faces';",
    maxGzipBytes: 40 * 1024,
  },
];

export const MUST_FAIL: MustFail[] = [
  { name: "misspelt named import: { nms } from '@vlfer/faces'", code: "export { nms } from '@vlfer/faces';" },
];

export interface BundleRow {
  name: string;
  minifiedBytes: number;
  gzipBytes: number;
  maxGzipBytes: number;
  /** the inputs that weigh most in the bundle, `package: bytes` (from esbuild's metafile) */
  heaviest: string[];
}

/** Bundle `code` as seen from `dir` (a project with the packages installed); throws esbuild's error when it fails. */
export async function bundle(dir: string, code: string): Promise<{ minified: Uint8Array; heaviest: string[] }> {
  const result = await build({
    stdin: { contents: code, resolveDir: dir, sourcefile: 'budget-entry.mjs', loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const perPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = m?.[1] ?? 'entry';
      perPackage.set(key, (perPackage.get(key) ?? 0) + bytesInOutput);
    }
  const heaviest = [...perPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k}: ${(v / 1024).toFixed(1)} KB`);
  return { minified: result.outputFiles[0]!.contents, heaviest };
}

/** Measure every budget and try every must-fail entry from `dir`; `failures` says what broke a budget or bundled. */
export async function checkBundles(
  dir: string,
  budgets: Budget[] = BUDGETS,
  mustFail: MustFail[] = MUST_FAIL,
): Promise<{ rows: BundleRow[]; failures: string[] }> {
  const rows: BundleRow[] = [];
  const failures: string[] = [];
  for (const b of budgets) {
    let out: Awaited<ReturnType<typeof bundle>>;
    try {
      out = await bundle(dir, b.code);
    } catch (error) {
      failures.push(`${b.name}: does not bundle: ${(error as Error).message.split('\n').slice(0, 4).join(' ')}`);
      continue;
    }
    const row: BundleRow = {
      name: b.name,
      minifiedBytes: out.minified.length,
      gzipBytes: gzipSync(out.minified, { level: 9 }).length,
      maxGzipBytes: b.maxGzipBytes,
      heaviest: out.heaviest,
    };
    rows.push(row);
    if (row.gzipBytes > b.maxGzipBytes)
      failures.push(
        `${b.name}: ${kb(row.gzipBytes)} gzip is over its budget of ${kb(b.maxGzipBytes)} (heaviest: ${row.heaviest.join(', ')})`,
      );
  }
  for (const m of mustFail) {
    const bundled = await bundle(dir, m.code).then(
      () => true,
      () => false,
    );
    if (bundled) failures.push(`${m.name}: bundled without an error (the named exports are not static)`);
  }
  return { rows, failures };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** The rows as a Markdown table (printed by the consumer test, pasted into the README). */
export function bundleTable(rows: BundleRow[]): string {
  return [
    '| bundle (esbuild, minified, browser) | minified | gzip | budget (gzip) |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${kb(r.minifiedBytes)} | ${kb(r.gzipBytes)} | ${kb(r.maxGzipBytes)} |`),
  ].join('\n');
}
