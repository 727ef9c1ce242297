import { defineLabelSet } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { classPrompts, getInstruction, promptTypeByNumber, registerInstruction } from './index.js';

const BASIC_7 = defineLabelSet('basic-7', ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear']);

describe('Exp-CLIP prompts', () => {
  it('builds class-major lists for the single-template types', () => {
    const p = classPrompts(promptTypeByNumber(3), BASIC_7);
    expect(p.promptsPerClass).toBe(1);
    expect(p.texts[3]).toBe('a photo of a face with an expression of anger.');
    expect(classPrompts('class_name', BASIC_7).texts[0]).toBe('happiness.');
  });
  it('keeps the Sadness template-order quirk in the ensembles', () => {
    const five = classPrompts('expression_ensemble_five', BASIC_7);
    expect(five.texts.length).toBe(35);
    expect(five.texts.slice(5, 7)).toEqual(['an expression of sadness.', 'a cropped photo emphasizing a face expressing sadness.']);
    expect(five.texts[1]).toBe('a photo of a face with an expression of happiness.');
    const ten = classPrompts('expression_ensemble_ten', BASIC_7);
    expect(ten.texts[10 + 8]).toBe('a photo of a face with an expression of sadness.');
    expect(ten.texts[3 * 10 + 9]).toBe("a clean photo showcasing a person's angry expression.");
  });
  it('errors on unknown classes and prompt numbers', () => {
    expect(() => classPrompts('class_name', defineLabelSet('x', ['boredom']))).toThrow(/class 'boredom' has no class_name prompts/);
    expect(() => promptTypeByNumber(6)).toThrow(/expected 1\.\.5/);
  });
});

describe('instructions', () => {
  it('holds the paper instruction verbatim and protects ids', () => {
    expect(getInstruction('exp-clip')).toBe('Please play the role of a facial action describer. Objectively describe the detailed facial actions of the person in the image.');
    expect(() => registerInstruction('exp-clip', 'other')).toThrow(/already registered/);
    expect(() => getInstruction('nope')).toThrow(/known: exp-clip/);
  });
});
