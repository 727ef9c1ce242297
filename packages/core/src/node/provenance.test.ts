import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkoutRevision, gitOutput } from './provenance.js';

describe('provenance reads git without writing the checkout', () => {
  it("status leaves .git/index as it was (git refreshes it under index.lock, which fails a user's commit then)", () => {
    const repo = mkdtempSync(join(tmpdir(), 'vlfer-git-'));
    const run = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'ignore' });
    run('init', '-q');
    writeFileSync(join(repo, 'a.txt'), 'a\n');
    run('add', 'a.txt');
    run('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'a');
    // the file's stat no longer matches the index: a plain `git status` rewrites the index to refresh it
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(repo, 'a.txt'), later, later);
    const index = join(repo, '.git', 'index');
    const before = statSync(index).mtimeMs;
    expect(gitOutput(['status', '--porcelain', '--untracked-files=no'], repo)).toBe('');
    expect(statSync(index).mtimeMs).toBe(before);
    run('status', '--porcelain'); // the control: without --no-optional-locks it does write
    expect(statSync(index).mtimeMs).not.toBe(before);
    expect(gitOutput(['rev-parse', 'HEAD'], join(repo, 'no-such-dir'))).toBeNull();
  });

  // making a checkout another user owns takes root (CI runs as root); as another user this case is skipped, as said
  it.runIf(process.getuid?.() === 0)(
    'a checkout another user owns is read, not recorded as null (git: "dubious ownership") [runs as root only]',
    () => {
      const repo = mkdtempSync(join(tmpdir(), 'vlfer-git-owner-'));
      const run = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'ignore' });
      run('init', '-q');
      run('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'a');
      const sha = gitOutput(['rev-parse', 'HEAD'], repo);
      execFileSync('chown', ['-R', '65534:65534', repo]);
      expect(gitOutput(['rev-parse', 'HEAD'], repo)).toBeNull(); // the control: git refuses it
      expect(checkoutRevision(repo)).toEqual({ sha, dirty: false });
    },
  );
});
