import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { vlferProgram } from './program.js';

/** The README page that documents each command's flags, for every flag (apps/cli/README.md says so). */
const PAGES = {
  'exp-clip eval': 'README.exp-clip.md',
  'exp-clip train': 'README.exp-clip.md',
  'hesp train': 'README.hesp.md',
  'hesp eval': 'README.hesp.md',
} as const;

function command(path: string): Command {
  let c = vlferProgram();
  for (const name of path.split(' ')) c = c.commands.find((x) => x.name() === name)!;
  return c;
}

describe('the CLI README pages name every flag of their commands', () => {
  for (const [path, page] of Object.entries(PAGES))
    it(`vlfer ${path}: ${page}`, () => {
      const text = readFileSync(join(import.meta.dirname, '..', page), 'utf8');
      const flags = command(path)
        .options.map((o) => o.long!)
        .filter((f) => f !== '--help');
      expect(flags.length).toBeGreaterThan(0);
      // a flag is named in the page as `--flag`, alone or with its value (`--flag <x>`, `--flag x`)
      const missing = flags.filter((f) => !new RegExp(`${f}(?![a-z-])`).test(text));
      expect(missing, `flags of vlfer ${path} that ${page} does not name`).toEqual([]);
    });
});
