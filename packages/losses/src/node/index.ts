/** @file `@vlfer/losses/node`: the Exp-CLIP InfoNCE loss + gradient graph on onnxruntime-node. */
export { InfoNceGraph } from './info-nce-graph.js';
