import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli, sharedPath } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

// Issue 22 item 6 at the command line: an annotation path that leaves --root is refused (file, line, path) unless
// --allow-outside-root; one image spelled two ways is a duplicate.
const work = mkdtempSync(join(tmpdir(), 'vlfer-cli-paths-'));
const root = join(work, 'images');
const csv = join(work, 'validation.csv');
const cli = (extra: string[]) =>
  runCli('apps/cli/test/exp-clip/entry.ts', [
    'eval',
    '--dataset',
    'affectnet7',
    '--root',
    root,
    '--annotations',
    csv,
    '--model',
    sharedPath('fixtures', 'tiny-clip'),
    '--prompts',
    '1',
    '--no-cache',
    '--no-progress',
    '--out',
    join(work, `out-${Math.random().toString(36).slice(2)}`),
    ...extra,
  ]);

beforeAll(async () => {
  for (const [i, p] of ['1/a.png', '2/b.png', '../outside/c.png'].entries()) {
    const path = join(root, p);
    mkdirSync(join(path, '..'), { recursive: true });
    const px = new Uint8Array(32 * 32 * 3).map((_, k) => (i * 97 + k * 5) % 256);
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
      .png()
      .toFile(path);
  }
});

describe('exp-clip eval: annotation paths', () => {
  it('refuses ../outside/c.png naming the CSV, line and path; --allow-outside-root reads it', () => {
    writeFileSync(csv, 'subDirectory_filePath,expression\n1/a.png,1\n2/b.png,2\n../outside/c.png,3\n');
    const refused = cli([]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /validation\.csv:4 \(field 'subDirectory_filePath'\): '\.\.\/outside\/c\.png' leaves the image root; .*--allow-outside-root/,
    );
    const allowed = cli(['--allow-outside-root']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toMatch(/affectnet7: 3 images/);
  });
  it('1/./a.png beside 1/a.png is one image listed twice', () => {
    writeFileSync(csv, 'subDirectory_filePath,expression\n1/a.png,1\n2/b.png,2\n1/./a.png,1\n');
    const r = cli([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/validation\.csv:4: image '1\/a\.png' is listed twice \(first at line 2\)/);
  });
});
