import { describe, expect, it } from 'vitest';
import { markNamesPure, sideEffectsProblems, type Metafile } from './tsup.js';

const meta: Metafile = {
  outputs: {
    'dist/index.js': { inputs: { 'src/index.ts': {}, 'src/preprocess.ts': {} } },
    'dist/node/index.js': { inputs: { 'src/node/index.ts': {}, 'src/node/env.ts': {} } },
    'dist/node/index.js.map': { inputs: {} },
    'dist/chunk-ABC.js': { inputs: { 'src/clip.ts': {} } },
  },
};

describe('the build', () => {
  it('sideEffects: exact when every output holding a listed source is listed and nothing else is', () => {
    expect(sideEffectsProblems(false, meta)).toEqual([]);
    expect(sideEffectsProblems(['./src/node/env.ts', './dist/node/index.js'], meta)).toEqual([]);
    expect(sideEffectsProblems(['./src/node/env.ts', './dist/node/*.js'], meta)).toEqual([]);
  });
  it('sideEffects: a missing output, a stale chunk glob, or a stray entry is a problem', () => {
    expect(sideEffectsProblems(['./src/node/env.ts'], meta)).toEqual([
      'dist/node/index.js holds a listed source with side effects but is not listed',
    ]);
    expect(sideEffectsProblems(['./src/node/env.ts', './dist/node/index.js', './dist/chunk-*.js'], meta)).toEqual([
      "'./dist/chunk-*.js' matches no output that holds a listed source",
    ]);
    expect(sideEffectsProblems(['./src/node/env.ts', './dist/node/index.js', 'env.ts'], meta)).toEqual([
      "'env.ts' is neither ./src/… nor ./dist/…",
    ]);
    expect(sideEffectsProblems(true, meta)).toEqual([
      'sideEffects must be false or a list of ./src/… and ./dist/… paths',
    ]);
  });
  it("marks keepNames' top-level __name statements pure, and nothing else", () => {
    const code = [
      'function uar() {}',
      '__name(uar, "uar");',
      'var f = /* @__PURE__ */ __name(() => 1, "f");',
      'class E {',
      '  static {',
      '    __name(this, "E");',
      '  }',
      '}',
      'function outer() {',
      '  function inner() {}',
      '  __name(inner, "inner");',
      '}',
    ].join('\n');
    const marked = markNamesPure(code).split('\n');
    expect(marked[1]).toBe('/* @__PURE__ */ __name(uar, "uar");');
    expect(marked.filter((l, i) => l !== code.split('\n')[i])).toHaveLength(1);
    expect(markNamesPure(markNamesPure(code))).toBe(markNamesPure(code));
  });
});
