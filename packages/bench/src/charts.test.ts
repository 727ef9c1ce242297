import { loadReferences } from '@vlfer/test-utils';
import { maxScores } from '@vlfer/metrics';
import { describe, expect, it } from 'vitest';
import { confusionMatrixSpec, numberSvgIdsInOrder, renderSvg, rocCurvesSpec, svgToPng } from './charts.js';

describe('charts', () => {
  it('renders a confusion matrix to SVG and PNG', async () => {
    const spec = confusionMatrixSpec(
      ['happiness', 'sadness', 'anger'],
      [
        [5, 1, 0],
        [2, 3, 1],
        [0, 0, 4],
      ],
      'test',
    );
    const svg = await renderSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const t of ['happiness', 'sadness', 'anger', '>5<', '>4<']) expect(svg).toContain(t);
    const png = await svgToPng(svg);
    expect(Array.from(png.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(png.length).toBeGreaterThan(1000);
    // the same chart drawn again in this process is the same bytes (vega's gradient ids count per process)
    expect(await renderSvg(spec)).toBe(svg);
    expect(svg).toMatch(/id="gradient_0"/);
    expect(
      numberSvgIdsInOrder(
        '<a id="clip7"/><b id="gradient_3"/><c fill="url(#gradient_3)" href="#clip7"/><d id="gradient_0"/><e id="p_gradient_5"><f fill="url(#gradient_5)"/></e><g id="gradient_5"/><h fill="url(#p_gradient_5)"/>',
      ),
    ).toBe(
      '<a id="clip0"/><b id="gradient_0"/><c fill="url(#gradient_0)" href="#clip0"/><d id="gradient_1"/><e id="p_gradient_0"><f fill="url(#gradient_2)"/></e><g id="gradient_2"/><h fill="url(#p_gradient_0)"/>',
    );
  });
  it('renders ROC curves from the reference open-set scores', async () => {
    const m = loadReferences().metrics;
    const svg = await renderSvg(
      rocCurvesSpec(
        [{ name: 'reference', knownScores: maxScores(m.known_logits), unknownScores: maxScores(m.unknown_logits) }],
        'ROC',
      ),
    );
    expect(svg).toContain('<path');
    expect(svg).toContain('false positive rate');
    // the legend names the curve's area: sklearn's roc_auc_score of these scores is 0.7225
    expect(svg).toContain(`reference (AUC ${m.auroc.toFixed(3)})`);
  });
});
