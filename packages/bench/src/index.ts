/**
 * @file `@vlfer/bench`: the ablation runner of vlfer as library functions. The registry (`ABLATIONS`: which
 * method × backbone × dataset × prompt × seed grids make up each ablation), `runAblation` (resumable, locked,
 * shardable; `mergeAblation` joins shards), the summary, paired statistics and per-item outcomes, the HTML report and
 * its charts, SLURM / Kubernetes job files, and the paper tables (`runPaperTable`). Every long function takes an
 * `AbortSignal`; the command line is `vlfer bench ablations | paper` (@vlfer/cli).
 */
export {
  ABLATIONS,
  BACKBONES,
  BenchDataSchema,
  DATASETS,
  METHODS,
  benchDataPaths,
  loadBenchData,
  type AblationId,
  type AblationSpec,
  type BackboneId,
  type BenchData,
  type DatasetId,
  type Method,
  type Preprocess,
} from './registry.js';
export {
  ablationShardFields,
  expandAblation,
  lockAblation,
  mergeAblation,
  methodOf,
  overlayRocSpec,
  readAllRows,
  readRows,
  rowMetricsProblem,
  runAblation,
  runLabel,
  shardRecordFile,
  shardRowsFile,
  writeAblationShard,
  writePaired,
  writeSummary,
  type ItemOutcomes,
  type ResultRow,
  type RunAblationOptions,
  type RunCoords,
} from './ablations.js';
export * from './statistics.js';
export * from './items.js';
export * from './report.js';
export * from './charts.js';
// vega and vega-lite, optional peers: whether they are installed (`vega.ts`, which loads them, names their types and
// stays internal)
export { CHART_PACKAGES, chartsWanted, missingChartPackages } from './chart-packages.js';
export * from './cluster.js';
export * from './paper.js';
export * from './face-api-reference.js';
export * from './methods/closed-set.js';
export * from './methods/open-set-baselines.js';
