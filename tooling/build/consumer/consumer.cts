import metrics = require('@vlfer/metrics');
import node = require('@vlfer/core/node');
import hesp = require('@vlfer/hesp');
const a: number = metrics.auroc([1], [0]);
const v: Record<string, string> = node.provenance().packages;
const f: typeof hesp.trainHesp = hesp.trainHesp;
void [a, v, f];
