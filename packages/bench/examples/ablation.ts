/**
 * An ablation of your own: zero-shot CLIP (the random-weight tiny-clip of the shared assets, so chance-level numbers)
 * on 28 FER2013 test images, three prompt types × two preprocessings. Finished runs are skipped when it runs again.
 * Usage: pnpm example packages/bench/examples/ablation.ts <shared assets> <results dir>
 */
import { readAllRows, runAblation, writeSummary, type AblationSpec } from '@vlfer/bench';

const [shared = '../shared', results = 'results/example'] = process.argv.slice(2);
const registry: Record<string, AblationSpec> = {
  'example/prompts-x-preprocess': {
    method: 'exp-clip-zero-shot',
    axes: {
      backbone: ['tiny-clip'],
      dataset: ['fer2013'],
      promptType: ['class_name', 'an_expression_of_name', 'expression_ensemble_ten'],
      preprocess: ['exp-clip', 'clip'],
    },
    seeds: [0],
    description: 'prompt type × preprocessing on tiny-clip',
  },
};
const options = { shared, resultsDir: results, limit: 28, registry, log: () => {} };
const first = await runAblation('example/prompts-x-preprocess', options);
console.log(`first call: ${first.ran} runs, ${first.skipped} already finished`);
for (const row of readAllRows(results))
  console.log(
    `${row.coords.promptType} / ${row.coords.preprocess}: UAR ${(100 * row.metrics.uar!).toFixed(2)} WAR ${(100 * row.metrics.war!).toFixed(2)} on ${row.metrics.n} images`,
  );
const again = await runAblation('example/prompts-x-preprocess', options);
console.log(`second call: ${again.ran} runs, ${again.skipped} already finished`);
console.log(`summary: ${writeSummary(results)}`);
