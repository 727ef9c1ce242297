#!/usr/bin/env node
/**
 * @file pnpm bench:cache — cost of the checked feature cache: write (atomic temp file + rename, no fsync) and read
 * (with the SHA-256 check) of `entries` vectors of `dim` floats, in a temporary directory. Prints ms per entry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { exitWithParent, integer, runMain } from '@vlfer/cli-kit';
import { FeatureCache, hashBytes } from '@vlfer/core/node';

exitWithParent('bench:cache'); // a killed wrapper (pnpm) ends the benchmark too

runMain('bench:cache', async () => {
  const o = new Command('bench:cache')
    .option('--entries <n>', 'vectors', integer(1), 3589)
    .option('--dim <n>', 'floats per vector', integer(1), 512)
    .parse()
    .opts();
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-cache-bench-'));
  try {
    const cache = new FeatureCache({ dir, namespace: { model: 'm', dtype: 'fp32', preprocess: 'p' } });
    const keys = Array.from({ length: o.entries }, (_, i) => hashBytes(String(i)));
    const v = Float32Array.from({ length: o.dim }, (_, i) => Math.sin(i));
    let t0 = performance.now();
    // a turn of the event loop every 64 entries, so a killed wrapper is noticed (exitWithParent); cost < 1 µs/entry
    const breathe = (i: number) => (i % 64 === 63 ? new Promise((r) => setImmediate(r)) : undefined);
    for (const [i, k] of keys.entries()) {
      cache.set(k, v);
      await breathe(i);
    }
    const write = (performance.now() - t0) / o.entries;
    t0 = performance.now();
    for (const [i, k] of keys.entries()) {
      if (!cache.get(k, o.dim)) throw new Error('entry missing');
      await breathe(i);
    }
    const read = (performance.now() - t0) / o.entries;
    process.stdout.write(
      `${o.entries} entries of ${o.dim} floats: write ${write.toFixed(3)} ms/entry (atomic rename, not fsynced), read + SHA-256 check ${read.toFixed(3)} ms/entry\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
