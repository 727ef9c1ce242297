import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '@vlfer/test-utils';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { sourceFiles, workspacePackages } from './workspace.js';

/**
 * Pipelines read as short named stages: no function in `packages/` is longer than {@link MAX_LINES} lines (counted
 * from its first to its last line, nested functions included), unless the line above it says why, as
 * `// long-function: <reason>` (kept for generated graph builders and the like). Run for one package with
 * `npx vitest run tooling/repo-checks/src/function-length.test.ts -t '@vlfer/<name>'`.
 */
const MAX_LINES = 60;
const EXEMPTION = /\/\/\s*long-function:\s*\S.{8,}/;

interface LongFunction {
  where: string;
  name: string;
  lines: number;
}

function nameOf(node: ts.FunctionLikeDeclaration): string {
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText();
  return '<anonymous>';
}

/** The comments directly above a function, or above the statement or property that holds it. */
function leadingComments(node: ts.Node, text: string): string {
  let holder: ts.Node = node;
  while (
    holder.parent &&
    (ts.isVariableDeclaration(holder.parent) ||
      ts.isVariableDeclarationList(holder.parent) ||
      ts.isVariableStatement(holder.parent) ||
      ts.isPropertyAssignment(holder.parent) ||
      ts.isExportAssignment(holder.parent))
  )
    holder = holder.parent;
  const ranges = ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? [];
  return ranges.map((r) => text.slice(r.pos, r.end)).join('\n');
}

export function longFunctions(file: string, maxLines = MAX_LINES): LongFunction[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node) => {
    if (
      (ts.isFunctionDeclaration(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isArrowFunction(node) ||
        ts.isFunctionExpression(node) ||
        ts.isConstructorDeclaration(node) ||
        ts.isGetAccessor(node) ||
        ts.isSetAccessor(node)) &&
      node.body
    ) {
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > maxLines && !EXEMPTION.test(leadingComments(node, text)))
        found.push({ where: `${relative(repoRoot, file)}:${first + 1}`, name: nameOf(node), lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const packages = workspacePackages().filter((p) => p.group === 'packages');

describe(`no function in packages/ over ${MAX_LINES} lines without a "// long-function: <reason>" comment`, () => {
  for (const p of packages) {
    it(p.name, () => {
      const files = sourceFiles(join(p.dir, 'src')).filter((f) => !/\.test\.ts$/.test(f));
      const long = files.flatMap((f) => longFunctions(f));
      expect(long.map((l) => `${l.where} ${l.name} (${l.lines} lines)`)).toEqual([]);
    });
  }

  it('the check itself finds a long function and honours the exemption comment', () => {
    const file = join(repoRoot, 'tooling/repo-checks/src/function-length.test.ts');
    const here = longFunctions(file, 5).map((l) => l.name);
    expect(here).toContain('longFunctions');
    expect(here).not.toContain('exemptedExample');
  });
});

// long-function: an example for the test above, which lowers the limit to 5 lines to see this one kept out.
export function exemptedExample(): number {
  let total = 0;
  total += 1;
  total += 2;
  total += 3;
  total += 4;
  return total;
}
