import { describe, expect, it } from 'vitest';
import { mapProblems } from './source-maps.js';

const files = ['dist/index.js', 'dist/index.js.map', 'dist/node/index.js.map', 'src/index.ts', 'src/node/fs.ts'];

describe('shipped source maps point into the package', () => {
  it('accepts sources relative to the map that the package ships', () => {
    expect(mapProblems('dist/index.js.map', { sources: ['../src/index.ts'] }, files)).toEqual([]);
    expect(mapProblems('dist/node/index.js.map', { sources: ['../../src/node/fs.ts'] }, files)).toEqual([]);
  });
  it("refuses the builder's absolute paths, file: URLs, and sources the package lacks", () => {
    const problems = mapProblems(
      'dist/index.js.map',
      { sources: ['/home/ci/vlfer/packages/core/src/index.ts', 'file:///home/ci/x.ts', '../src/gone.ts'] },
      files,
    ).join('\n');
    expect(problems).toMatch(/'\/home\/ci\/vlfer\/packages\/core\/src\/index.ts' is an absolute path/);
    expect(problems).toMatch(/'file:\/\/\/home\/ci\/x.ts' is an absolute path/);
    expect(problems).toMatch(/'..\/src\/gone.ts' \(src\/gone.ts\) is not in the package/);
    expect(mapProblems('dist/index.js.map', { sourceRoot: '/build/', sources: [] }, files).join()).toMatch(
      /sourceRoot is an absolute path/,
    );
  });
});
