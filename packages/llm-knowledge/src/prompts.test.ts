import { defineLabelSet } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import {
  EXP_CLIP_TEMPLATES,
  expClipPrompts,
  getInstruction,
  promptTypeByNumber,
  registerInstruction,
  targetSpread,
} from './index.js';

const BASIC_7 = defineLabelSet('basic-7', ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear']);

describe('Exp-CLIP prompts', () => {
  it('builds class lists for the single-template types', () => {
    const p = expClipPrompts(promptTypeByNumber(3), BASIC_7);
    expect(p.promptsPerClass).toBe(1);
    expect(p.prompts[3]).toEqual(['a photo of a face with an expression of anger.']);
    expect(expClipPrompts('class_name', BASIC_7).prompts[0]).toEqual(['happiness.']);
    expect(p.fromTemplates).toEqual([]);
  });
  it('keeps the Sadness template-order quirk in the ensembles', () => {
    const five = expClipPrompts('expression_ensemble_five', BASIC_7);
    expect(five.prompts.flat().length).toBe(35);
    expect(five.prompts[1]!.slice(0, 2)).toEqual([
      'an expression of sadness.',
      'a cropped photo emphasizing a face expressing sadness.',
    ]);
    expect(five.prompts[0]![1]).toBe('a photo of a face with an expression of happiness.');
    const ten = expClipPrompts('expression_ensemble_ten', BASIC_7);
    expect(ten.prompts[1]![8]).toBe('a photo of a face with an expression of sadness.');
    expect(ten.prompts[3]![9]).toBe("a clean photo showcasing a person's angry expression.");
  });
  it('finds curated prompts for common spellings and fills the templates for other class names', () => {
    const p = expClipPrompts('an_expression_of_name', ['happy', 'Sad', 'boredom']);
    expect(p.prompts).toEqual([
      ['an expression of happiness.'],
      ['an expression of sadness.'],
      ['an expression of boredom.'],
    ]);
    expect(p.fromTemplates).toEqual(['boredom']);
    // every short name the datasets' label sets read as an expression has that expression's prompts
    const short = expClipPrompts('an_expression_of_name', ['hap', 'sadnes', 'neu', 'ang', 'sur', 'dis', 'fea', 'con']);
    expect(short.fromTemplates).toEqual([]);
    expect(short.prompts.map((x) => x[0])).toEqual(
      ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear', 'contempt'].map(
        (c) => `an expression of ${c}.`,
      ),
    );
    expect(EXP_CLIP_TEMPLATES.expression_ensemble_five[2]).toBe('a photo radiating {} in a person.');
    expect(expClipPrompts('expression_ensemble_ten', ['confusion']).prompts[0]![9]).toBe(
      "a clean photo showcasing a person's confusion.",
    );
  });
  it('errors on unknown prompt types and numbers', () => {
    expect(() => expClipPrompts('nope' as never, BASIC_7)).toThrow(/unknown prompt type 'nope'/);
    expect(() => promptTypeByNumber(6)).toThrow(/expected 1\.\.5/);
    // numbered class folders (a common RAF-DB export) name no expression to prompt with
    expect(() => expClipPrompts('class_name', ['1', '2'])).toThrow(
      /'labelSet' passed to 'expClipPrompts': class '1' is a number, not an expression/,
    );
  });
  it('puts class names in as written and finds only its own curated prompts', () => {
    // replaceAll's patterns: 'a$&b' became 'a{}b'; 'constructor' found Object's prototype and crashed
    expect(expClipPrompts('class_name', ['a$&b', "it's $1"]).prompts).toEqual([['a$&b.'], ["it's $1."]]);
    for (const name of ['constructor', 'toString', '__proto__'])
      expect(expClipPrompts('class_name', [name]).prompts).toEqual([[`${name}.`]]);
    expect(() => expClipPrompts('constructor' as never, BASIC_7)).toThrow(/unknown prompt type 'constructor'/);
    expect(() => expClipPrompts('class_name', ['happiness', ' '])).toThrow(/class " " is no class name/);
  });
});

describe('targetSpread', () => {
  it('is the largest per-dimension std of the normalised targets, without cancellation over millions of rows', () => {
    expect(targetSpread([1, 0, 1, 0, 0, 1], 3, 2)).toBeCloseTo(Math.sqrt(2) / 3, 12);
    // 4,000,000 equal targets: E[v²] − E[v]² gave 1.24e-5 (above the 1e-5 of a constant teacher); Welford gives 0
    const n = 4_000_000;
    const same = new Float32Array(2 * n).map((_, i) => (i % 2 ? 0.8 : 0.6));
    expect(targetSpread(same, n, 2)).toBeLessThan(1e-9);
  });
});

describe('instructions', () => {
  it('holds the paper instruction verbatim and protects ids', () => {
    expect(getInstruction('exp-clip')).toBe(
      'Please play the role of a facial action describer. Objectively describe the detailed facial actions of the person in the image.',
    );
    expect(() => registerInstruction('exp-clip', 'other')).toThrow(/already registered/);
    expect(() => getInstruction('nope')).toThrow(/known: exp-clip/);
  });
});
