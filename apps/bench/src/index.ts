export { materializeClipGraphs, writeWeightsFromManifest } from './materialize.js';
export { benchRawSession, benchPipeline, type EncodeBenchRow } from './encode-bench.js';
