import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maxAbsDiff, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { CLIP_CONTEXT_LENGTH, clipBasicClean, fitClipContext, truncationNotices } from '../index.js';
import { eotPositions } from './clip-gradients.js';
import { loadClip, loadClipTokenizer, type ClipModel, type LoadClipOptions } from './index.js';

// References made by tools/fixtures/make_long_prompt_references.py: ids of OpenAI's SimpleTokenizer +
// clip.tokenize(truncate=True) (padding 0), and text features of OpenAI's clip/model.py encode_text on tiny-clip's
// weights and on the committed openai-tiny-state-dict.pt. Prompts: 110 and 81 tokens, a short one, 77 and 78 tokens.
const data = join(import.meta.dirname, '..', '..', 'test-data');
const ref = JSON.parse(readFileSync(join(data, 'long-prompts.json'), 'utf8')) as {
  prompts: string[];
  tokensBeforeTruncation: number[];
  clipTokenizeTruncateIds: number[][];
  textEmbeds: Record<'tiny-clip' | 'openai-tiny-state-dict.pt', number[][]>;
};
const tiny = sharedPath('fixtures', 'tiny-clip');
const EOT = 49407;

/** Our rows with the padding after the end token set to 0, as clip.tokenize pads. */
function asClipTokenize(t: { ids: number[]; dims: [number, number] }): number[][] {
  const [n, C] = t.dims;
  return Array.from({ length: n }, (_, r) => {
    const row = t.ids.slice(r * C, (r + 1) * C);
    const e = row.indexOf(EOT);
    return row.map((v, j) => (j > e ? 0 : v));
  });
}

const PATHS: { name: string; options: LoadClipOptions; ref: 'tiny-clip' | 'openai-tiny-state-dict.pt' }[] = [
  { name: 'transformers.js ONNX directory', options: { model: tiny }, ref: 'tiny-clip' },
  { name: 'Hugging Face safetensors (graphs)', options: { model: tiny, backend: 'graphs' }, ref: 'tiny-clip' },
  {
    name: 'OpenAI .pt state dict',
    options: {
      model: join(data, 'openai-clip', 'openai-tiny-state-dict.pt'),
      tokenizer: tiny,
      config: join(tiny, 'config.json'),
    },
    ref: 'openai-tiny-state-dict.pt',
  },
];

describe('prompts longer than 77 tokens are cut as clip.tokenize(truncate=True)', () => {
  it('the reference prompts are what the test is about: 110 and 81 tokens, a short one, exactly 77 and 78', () => {
    expect(ref.tokensBeforeTruncation).toEqual([110, 81, 7, 77, 78]);
  });

  for (const p of PATHS) {
    it(`${p.name}: ids equal clip.tokenize(truncate=True), pooled at slot 77, features equal PyTorch's to 1e-4, truncation logged`, async () => {
      const lines: string[] = [];
      const clip: ClipModel = await loadClip({ ...p.options, log: (l) => lines.push(l) });
      try {
        const t = clip.tokenize(ref.prompts);
        expect(t.dims).toEqual([5, 77]);
        expect(asClipTokenize(t)).toEqual(ref.clipTokenizeTruncateIds);
        expect(t.truncated).toEqual([0, 1, 4]);
        // the text tower pools at argmax(ids): the end token, in the last slot for truncated prompts
        expect(eotPositions(t.ids, t.dims)).toEqual([76, 76, 6, 76, 76]);
        const e = await clip.encodeTexts(ref.prompts);
        expect(e.dims).toEqual([5, 24]);
        expect(maxAbsDiff(e.data, ref.textEmbeds[p.ref].flat())).toBeLessThan(1e-4);
        // the bug: both long prompts pooled at the start token and got identical features
        expect(maxAbsDiff(e.data.subarray(0, 24), e.data.subarray(24, 48))).toBeGreaterThan(1e-3);
        // tokenize and encodeTexts each report prompts 1, 2 and 5
        expect(lines).toHaveLength(6);
        expect(lines[3]).toMatch(
          /^prompt 1 of 5 has 110 tokens, more than CLIP's 77: its end is cut .*"a photo of a face/,
        );
        expect(lines[4]).toMatch(/^prompt 2 of 5 has 81 tokens/);
        expect(lines[5]).toMatch(/^prompt 5 of 5 has 78 tokens/);
      } finally {
        await clip.dispose();
      }
    });
  }

  it('loadClipTokenizer (HESP) gives the same ids and reports the truncated prompts', async () => {
    const lines: string[] = [];
    const tokenize = await loadClipTokenizer(tiny, { log: (l) => lines.push(l) });
    const t = tokenize(ref.prompts);
    expect(asClipTokenize(t)).toEqual(ref.clipTokenizeTruncateIds);
    expect(t.truncated).toEqual([0, 1, 4]);
    expect(lines.map((l) => l.slice(0, 20))).toEqual([
      'prompt 1 of 5 has 11',
      'prompt 2 of 5 has 81',
      'prompt 5 of 5 has 78',
    ]);
  });
});

describe('fitClipContext', () => {
  const specials = { eot: 9, pad: 0 };
  it('keeps rows up to the context, cuts longer ones with the end token last, pads the rest', () => {
    const r = fitClipContext(
      [
        [8, 1, 9],
        [8, 1, 2, 9],
        [8, 1, 2, 3, 9],
      ],
      specials,
      4,
    );
    expect(r.ids).toEqual([8, 1, 9, 0, 8, 1, 2, 9, 8, 1, 2, 9]);
    expect(r.dims).toEqual([3, 4]);
    expect(r.lengths).toEqual([3, 4, 4]);
    expect(r.tokens).toEqual([3, 4, 5]);
    expect(r.truncated).toEqual([2]);
    expect(truncationNotices(['a', 'b', 'c d e'], r)).toEqual([
      `prompt 3 of 3 has 5 tokens, more than CLIP's 4: its end is cut (the end token kept in slot 4, as clip.tokenize(truncate=True) does): "c d e"`,
    ]);
    expect(CLIP_CONTEXT_LENGTH).toBe(77);
  });
  it('refuses a row that does not end with the end token', () => {
    expect(() => fitClipContext([[8, 1, 2]], specials)).toThrow(
      /row 0 \(3 ids\) does not end with the end token 9; expected start \+ BPE tokens \+ end/,
    );
  });
});

describe("clip.tokenize's text clean-up (ftfy.fix_text, html.unescape twice, whitespace) before the BPE", () => {
  it('cleans as basic_clean + whitespace_clean do, so such prompts get the reference ids', async () => {
    // html parts: Python's html.unescape(html.unescape(s)); the others: ftfy 6's fix_text (fixes.py, chardata.py)
    const cases: [string, string][] = [
      ['html &amp; entity', 'html & entity'],
      ['<b>&amp;</b>', '<b>&</b>'], // ftfy leaves entities alone in text with '<'; clip's html.unescape does not
      ['&amp;amp;', '&'],
      ['tom &amp jerry', 'tom & jerry'],
      ['&notit;', '¬it;'],
      ['&#128;', '€'],
      ['Ｆｕｌｌｗｉｄｔｈ\u3000ｔｅｘｔ', 'Fullwidth text'],
      ['a face that’s “happy”', 'a face that\'s "happy"'],
      ['ﬁne', 'fine'],
      ['&amp;rsquo;', "'"], // ftfy repeats until nothing changes: &rsquo; then ’ then '
      ['P&EACUTE;REZ', 'PÉREZ'],
      ['a\r\nb\u2028c', 'a b c'],
      ['\u001b[31mred\u001b[0m', 'red'],
      ['x\u0000y', 'xy'],
      ['ｶﾀｶﾅ', 'カタカナ'],
      ['  a   b  ', 'a b'],
      ['\x93quoted\x94', '"quoted"'], // C1 controls read as Windows-1252 (fix_c1_controls), then uncurled
      ['para\x85nel', 'para…nel'],
      ['&LTIMES; &GTDOT; &COPYSR;', '<IMES; >DOT; ©SR;'], // capitals that start with a legacy entity: html.unescape's
      ['&EACUTE;\n<', 'É <'], // '<' stops the unescaping from its own line on
      [`&${'amp;'.repeat(13)}`, '&'],
      ['&#xFDD0;x&#128;', 'x€'], // Python's html.unescape: noncharacters dropped, C1 references as Windows-1252
      ['a\ud800b', 'a\ufffdb'],
    ];
    for (const [given, cleaned] of cases) expect(clipBasicClean(given), JSON.stringify(given)).toBe(cleaned);
    // through the tokenizer: fullwidth text, entities and curly quotes get the ids of their clean forms (they got
    // 39 byte-level tokens, and other ids, before)
    const tokenize = await loadClipTokenizer(tiny);
    const ids = (t: string) => tokenize([t]).ids;
    expect(ids('Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ')).toEqual(ids('fullwidth text'));
    expect(ids('html &amp; entity')).toEqual(ids('html & entity'));
    expect(ids('a face that’s happy')).toEqual(ids("a face that's happy"));
  });
});
