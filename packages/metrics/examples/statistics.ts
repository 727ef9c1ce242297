import {
  classificationIntervals,
  openSetIntervals,
  pairedBootstrapTest,
  pairedPermutationTest,
  seedSummary,
  unweightedAverageRecall,
} from '@vlfer/metrics';

// One run: 12 items, true classes and the predictions of two methods on the same items
const yTrue = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
const predA = [0, 0, 1, 0, 1, 1, 2, 1, 2, 2, 2, 0];
const predB = [0, 1, 1, 0, 1, 2, 2, 1, 2, 0, 2, 0];
const fmt = (ci: { estimate: number; lower: number; upper: number }) =>
  `${ci.estimate.toFixed(3)} [${ci.lower.toFixed(3)}, ${ci.upper.toFixed(3)}]`;

const ci = classificationIntervals(yTrue, predA, { seed: 1, iterations: 2000 });
console.log(`A: UAR ${fmt(ci.uar)}  WAR ${fmt(ci.war)}  (95 % bootstrap over items)`);

// open set: any known-ness score (higher = more known); knowns and unknowns resampled separately
const os = openSetIntervals(
  {
    knownScores: [0.9, 0.8, 0.75, 0.6, 0.55],
    unknownScores: [0.7, 0.5, 0.4, 0.3],
    knownPredictions: [0, 1, 1, 2, 0],
    knownLabels: [0, 1, 2, 2, 0],
  },
  { seed: 1, iterations: 2000 },
);
console.log(`AUROC ${fmt(os.auroc)}  OSCR ${fmt(os.oscr)}`);

// paired tests of UAR(A) − UAR(B) on the same items
const uarOn = (pred: number[]) => (idx: ArrayLike<number>) =>
  unweightedAverageRecall(
    Array.from(idx, (i) => yTrue[i]!),
    Array.from(idx, (i) => pred[i]!),
  );
const boot = pairedBootstrapTest({
  n: 12,
  statisticA: uarOn(predA),
  statisticB: uarOn(predB),
  seed: 1,
  iterations: 2000,
});
console.log(
  `UAR A − B ${boot.difference.toFixed(3)} [${boot.lower.toFixed(3)}, ${boot.upper.toFixed(3)}], bootstrap p ${boot.pValue.toFixed(3)}`,
);
const perm = pairedPermutationTest({
  n: 12,
  seed: 1,
  difference: (swapped) => {
    const a = predA.map((v, i) => (swapped[i] ? predB[i]! : v));
    const b = predB.map((v, i) => (swapped[i] ? predA[i]! : v));
    return unweightedAverageRecall(yTrue, a) - unweightedAverageRecall(yTrue, b);
  },
});
console.log(
  `permutation p ${perm.pValue.toFixed(3)} (${perm.exact ? 'exact' : 'Monte Carlo'}, ${perm.permutations} patterns)`,
);

// across seeds: mean ± std and the t-interval of the mean
const s = seedSummary([0.612, 0.645, 0.598, 0.661, 0.633]);
console.log(
  `5 seeds: ${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}, 95 % CI of the mean [${s.lower!.toFixed(3)}, ${s.upper!.toFixed(3)}]`,
);
