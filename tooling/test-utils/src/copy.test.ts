import { chmodSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { copyWritable } from './copy.js';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('copyWritable', () => {
  test('copies a read-only tree (as the shared fixtures are) into one its owner can write, links left alone', () => {
    const d = mkdtempSync(join(tmpdir(), 'vlfer-copy-'));
    const src = join(d, 'fixture');
    mkdirSync(join(src, 'onnx'), { recursive: true });
    writeFileSync(join(src, 'onnx', 'model.onnx'), 'graph');
    writeFileSync(join(d, 'outside.txt'), 'x');
    chmodSync(join(d, 'outside.txt'), 0o444);
    symlinkSync(join(d, 'outside.txt'), join(src, 'link.txt'));
    chmodSync(join(src, 'onnx', 'model.onnx'), 0o444);
    chmodSync(join(src, 'onnx'), 0o555);
    chmodSync(src, 0o555);
    copyWritable(src, join(d, 'copy'));
    expect([mode(join(d, 'copy')), mode(join(d, 'copy', 'onnx')), mode(join(d, 'copy', 'onnx', 'model.onnx'))]).toEqual(
      [0o755, 0o755, 0o644],
    );
    expect(mode(join(d, 'outside.txt'))).toBe(0o444); // the link's target is not the copy's
    // one file over an earlier read-only copy of it
    copyWritable(join(src, 'onnx', 'model.onnx'), join(d, 'one.onnx'));
    chmodSync(join(d, 'one.onnx'), 0o444);
    copyWritable(join(src, 'onnx', 'model.onnx'), join(d, 'one.onnx'));
    expect(mode(join(d, 'one.onnx'))).toBe(0o644);
    chmodSync(src, 0o755);
    chmodSync(join(src, 'onnx'), 0o755);
  });
});
