/** @file `@vlfer/losses/node`: the Exp-CLIP InfoNCE loss + gradient graph on onnxruntime-node. */
export { InfoNceGraph } from './info-nce-graph.js';
export { InfoNceSgdStep, type InfoNceSgdStepOptions } from './info-nce-sgd-step.js';
