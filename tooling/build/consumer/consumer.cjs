const { auroc, openSetReport } = require('@vlfer/metrics');
const { getLabelSet } = require('@vlfer/datasets');
const { expClipPrompts } = require('@vlfer/llm-knowledge');
const { InvalidArgumentError } = require('@vlfer/core');
const { provenance } = require('@vlfer/core/node');
const { RESIZERS } = require('@vlfer/encoders/node');
const { trainHesp } = require('@vlfer/hesp');
const { evaluateZeroShot } = require('@vlfer/exp-clip');
if (auroc([0.9, 0.8], [0.1, 0.85]) !== 0.75) throw new Error('auroc');
if (getLabelSet('contempt-7').names.length !== 7) throw new Error('label set');
if (expClipPrompts('class_name', ['happiness']).prompts[0][0] !== 'happiness.') throw new Error('prompts');
try {
  auroc([], [1]);
  throw new Error('no throw');
} catch (e) {
  if (!(e instanceof InvalidArgumentError)) throw e;
}
if (!provenance().packages['@vlfer/core'])
  throw new Error('provenance has no package versions: ' + JSON.stringify(provenance().packages));
if (typeof trainHesp !== 'function' || typeof evaluateZeroShot !== 'function' || !RESIZERS.includes('pil'))
  throw new Error('exports');
(async () => {
  // the worker script is found inside the installed package (dist/node/preprocess-worker.js)
  const { createPreprocessPool } = require('@vlfer/encoders/node');
  const pool = createPreprocessPool({ workers: 1 });
  const px = await pool.run([{ rgb: new Uint8Array(8 * 8 * 3).fill(51), width: 8, height: 8 }], 'exp-clip');
  await pool.close();
  if (px.dims.join() !== '1,3,224,224' || Math.abs(px.data[0] - 0.2) > 1e-6)
    throw new Error('preprocess pool gave ' + px.dims + ' ' + px.data[0]);
  console.log('ok', openSetReport([[2, 1]], [0], [[0.5, 0.4]]).standard.auroc, 'pool', px.dims.join('x'));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
