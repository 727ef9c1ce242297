/**
 * The root README's quick start and every package README show a runnable example and its real output. This test
 * keeps them true: in `README.md` and each `packages/<name>/README.md`, a fenced block whose lines start with `$ pnpm example <file> [args]` is a transcript;
 * each command is run from the repository root and its stdout must equal the lines that follow it (numbers with
 * decimals may differ by 2 in the last printed digit, for other CPUs' float rounding). `/tmp/` in a command's
 * arguments is a fresh directory per transcript (printed back as `/tmp/`). A ```ts block that precedes a transcript must equal one of the example files it runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

interface Command {
  file: string;
  args: string[];
  expected: string[];
}
interface Transcript {
  readme: string;
  line: number;
  source: string | null;
  commands: Command[];
}

/** The transcripts of one README, with the ```ts block before each (if any). */
export function readTranscripts(readme: string, text: string): Transcript[] {
  const lines = text.split('\n');
  const out: Transcript[] = [];
  let lastTs: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const body = lines.slice(start, end);
    i = end;
    if (fence[1] === 'ts') {
      lastTs = body.join('\n');
      continue;
    }
    if (!body[0]?.startsWith('$ pnpm example ')) continue;
    const commands: Command[] = [];
    for (const l of body) {
      if (l.startsWith('$ ')) {
        const [, , file, ...args] = l.slice(2).trim().split(/\s+/);
        commands.push({ file: file!, args, expected: [] });
      } else commands.at(-1)!.expected.push(l);
    }
    out.push({ readme, line: start, source: lastTs, commands });
    lastTs = null;
  }
  return out;
}

const NUMBER = /-?\d+\.\d+(?:e[-+]?\d+)?/g;

/** Lines equal, except decimals within 2 units of their last printed digit. */
export function sameOutput(actual: string, expected: string): boolean {
  const strip = (s: string) => s.replace(NUMBER, '#');
  if (strip(actual) !== strip(expected)) return false;
  const a = actual.match(NUMBER) ?? [];
  const e = expected.match(NUMBER) ?? [];
  return e.every((v, i) => {
    const decimals = (v.split('e')[0]!.split('.')[1] ?? '').length;
    const exp = v.includes('e') ? Number(v.split('e')[1]) : 0;
    return Math.abs(Number(a[i]) - Number(v)) <= 2 * 10 ** (exp - decimals) + 1e-12;
  });
}

const tsx = join(createRequire(join(repoRoot, 'package.json')).resolve('tsx/package.json'), '..', 'dist', 'loader.mjs');
/** The root README (its quick start) and every package README. */
const readmes = [
  'README.md',
  ...readdirSync(join(repoRoot, 'packages'))
    .map((p) => join('packages', p, 'README.md'))
    .filter((p) => existsSync(join(repoRoot, p))),
];

/** The shared assets folder, as the examples find it: `$VLFER_SHARED`, else `../shared` beside the repository. */
const shared = process.env.VLFER_SHARED ?? join(repoRoot, '..', 'shared');
const examples = readdirSync(join(repoRoot, 'packages')).flatMap((p) => {
  const dir = join(repoRoot, 'packages', p, 'examples');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => join('packages', p, 'examples', f))
    : [];
});

describe('package examples find the shared assets through VLFER_SHARED', () => {
  it("no example hard-codes a path under '../shared' (only as the default of VLFER_SHARED)", () => {
    expect(examples.length).toBeGreaterThan(5);
    const hard = examples.filter((f) => /['"`]\.\.\/shared\//.test(readFileSync(join(repoRoot, f), 'utf8')));
    expect(hard, "examples must read process.env.VLFER_SHARED ?? '../shared'").toEqual([]);
  });
  it('an example run where ../shared is no folder reads $VLFER_SHARED', () => {
    const cwd = join(mkdtempSync(join(tmpdir(), 'vlfer-example-cwd-')), 'sub'); // its ../shared does not exist
    mkdirSync(cwd);
    const run = (env: Record<string, string | undefined>) =>
      spawnSync(
        process.execPath,
        ['--conditions=@vlfer/source', '--import', tsx, join(repoRoot, 'packages/datasets/examples/fer2013.ts')],
        { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...env } },
      );
    const r = run({ VLFER_SHARED: shared });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^3589 images, label set basic-7/);
    // without it the default ../shared is read (and missing here): the variable is what made the run work
    const without = run({ VLFER_SHARED: undefined });
    expect(without.status).not.toBe(0);
    expect(without.stderr).toMatch(/shared\/data\/fer2013-privatetest/);
  }, 300_000);
});

describe('README transcripts', () => {
  it('parses transcripts and compares numbers to their printed precision', () => {
    const t = readTranscripts(
      'x.md',
      'a\n```ts\nconsole.log(1)\n```\n\n```\n$ pnpm example a/b.ts 1 /tmp/x\nline 0.50\n$ pnpm example c.ts\n```\n',
    );
    expect(t).toEqual([
      {
        readme: 'x.md',
        line: 6,
        source: 'console.log(1)',
        commands: [
          { file: 'a/b.ts', args: ['1', '/tmp/x'], expected: ['line 0.50'] },
          { file: 'c.ts', args: [], expected: [] },
        ],
      },
    ]);
    expect(sameOutput('p 0.637 x', 'p 0.638 x')).toBe(true);
    expect(sameOutput('p 0.641 x', 'p 0.638 x')).toBe(false);
    expect(sameOutput('p 0.637 y', 'p 0.637 x')).toBe(false);
    expect(sameOutput('1/64', '2/64')).toBe(false);
  });
  it('the root README and every package README have a transcript', () => {
    const without = readmes.filter((r) => readTranscripts(r, readFileSync(join(repoRoot, r), 'utf8')).length === 0);
    expect(without, 'READMEs without a `$ pnpm example …` transcript').toEqual([]);
  });
  if (!existsSync(shared))
    throw new Error(
      `README examples read $VLFER_SHARED, else ../shared beside the repository (${shared}); it is missing`,
    );
  for (const readme of readmes) {
    for (const t of readTranscripts(readme, readFileSync(join(repoRoot, readme), 'utf8'))) {
      it(`${readme}:${t.line} runs as shown`, () => {
        const tmp = mkdtempSync(join(tmpdir(), 'vlfer-readme-'));
        const subst = (s: string) => s.replaceAll('/tmp/', `${tmp}/`);
        if (t.source !== null) {
          const files = t.commands.map((c) => c.file);
          expect(
            files.some((f) => readFileSync(join(repoRoot, f), 'utf8').trimEnd() === t.source),
            `the ts block above ${readme}:${t.line} must be one of ${files.join(', ')} verbatim`,
          ).toBe(true);
        }
        for (const c of t.commands) {
          const r = spawnSync(
            process.execPath,
            ['--conditions=@vlfer/source', '--import', tsx, c.file, ...c.args.map(subst)],
            { cwd: repoRoot, encoding: 'utf8', timeout: 240_000 },
          );
          expect(r.status, `${c.file} failed:\n${r.stderr}`).toBe(0);
          const actual = r.stdout.replaceAll(`${tmp}/`, '/tmp/').trimEnd();
          const expected = c.expected.join('\n').trimEnd();
          if (!sameOutput(actual, expected))
            expect(actual, `${readme}:${t.line}: output of ${c.file} differs`).toBe(expected);
        }
      }, 300_000);
    }
  }
});
