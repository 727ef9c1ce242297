import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, runCli } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

const vlfer = (args: string[]) => runCli('apps/cli/src/main.ts', args);
const version = (JSON.parse(readFileSync(join(repoRoot, 'apps/cli/package.json'), 'utf8')) as { version: string })
  .version;

describe('the vlfer command', () => {
  it('--version prints the version of @vlfer/cli; help lists both tools', () => {
    for (const flag of ['--version', '-V']) {
      const r = vlfer([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
    const help = vlfer(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: vlfer \[options\] \[command\]/);
    expect(help.stdout).toMatch(/\n\s+exp-clip\s/);
    expect(help.stdout).toMatch(/\n\s+hesp\s/);
  });

  it('help shows defaults as a user types them: no help-time timestamp, no JSON array', () => {
    const help = vlfer(['exp-clip', 'eval', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: vlfer exp-clip eval \[options\]/);
    const flat = help.stdout.replace(/\s+/g, ' ');
    expect(flat).toContain('(default: all)');
    expect(flat).toContain('(default: runs/exp-clip-eval/<start time>)');
    expect(flat).not.toMatch(/default: \[/);
    expect(flat).toContain('(default: .vlfer-cache/features)');
    expect(flat).not.toMatch(/default: "/); // strings as typed, not JSON
    expect(flat).not.toMatch(/\d{4}-\d\d-\d\dT/);
  });

  it("every error reads 'vlfer: …', commander's parse errors included, with exit code 1", () => {
    const cases = [
      ['exp-clip', 'eval', '--dataset', 'fer-2013', '--root', '.', '--model', 'm'],
      ['exp-clip', 'eval', '--no-such-flag'],
      ['hesp', 'train', '--epochs', 'many'],
      ['no-such-tool'],
    ];
    for (const args of cases) {
      const r = vlfer(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/^vlfer: /);
      expect(r.stderr, args.join(' ')).not.toMatch(/^error: /m);
    }
    const dataset = vlfer(cases[0]!);
    expect(dataset.stderr).toMatch(/^vlfer: option '--dataset <id>' argument 'fer-2013' is invalid/);
  });

  it('a misspelt flag is named, with its suggestion on the same line, before the required flag it misses', () => {
    const misspelt = vlfer(['exp-clip', 'eval', '--datset', 'fer2013']);
    expect([misspelt.code, misspelt.stderr]).toEqual([
      1,
      "vlfer: unknown option '--datset' (did you mean --dataset?)\n",
    ]);
    // spelt --flag=value: commander matched the whole token and suggested nothing
    const withValue = vlfer(['exp-clip', 'eval', '--datset=fer2013']);
    expect([withValue.code, withValue.stderr]).toEqual([
      1,
      "vlfer: unknown option '--datset' (did you mean --dataset?)\n",
    ]);
    // HESP's clips keep their frame count: its --when-no-face offers no 'skip' (help and parsing alike)
    const skip = vlfer(['hesp', 'train', '--when-no-face', 'skip']);
    expect(skip.stderr).toMatch(
      /^vlfer: option '--when-no-face <policy>' argument 'skip' is invalid\. Allowed choices are full, fail\./,
    );
    const missing = vlfer(['hesp', 'eval']);
    expect([missing.code, missing.stderr]).toEqual([1, "vlfer: required option '--run <dir>' not specified\n"]);
  });
  it('a flag given twice with different values takes the last, with a warning before the command runs', () => {
    const twice = vlfer(['hesp', 'eval', '--run', '/nonexistent/a', '--run=/nonexistent/b']);
    expect(twice.stderr).toMatch(
      /^vlfer: warning: --run given 2 times \(\/nonexistent\/a, then \/nonexistent\/b\): the last is used\nvlfer: --run: .*\/nonexistent\/b/,
    );
  });
});
