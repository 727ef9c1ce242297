/**
 * Child process of the fuzz tests: runs fast-check properties over `FUZZ_TARGETS` and prints one line per
 * target (`START`, then `OK <runs> <slowest ms>` or `FAIL <message>`), so the parent can name a parser that hangs
 * (it kills this process after its time budget).
 * Usage: node --import tsx runner.ts <runs per target> <seed> [name filter]
 */
import fc from 'fast-check';
import { VlferError } from '@vlfer/core';
import { FUZZ_TARGETS } from './targets.js';

const runs = Number(process.argv[2] ?? 200);
const seed = Number(process.argv[3] ?? 1);
const only = process.argv[4];
const PER_CALL_MS = 2000;

/** Mutations of a seed: truncation, bit flips, byte insertions, or random bytes. */
function mutated(seedBytes: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = seedBytes.length;
  const truncate = fc.integer({ min: 0, max: n }).map((k) => seedBytes.slice(0, k));
  const flips = fc
    .array(fc.record({ at: fc.integer({ min: 0, max: Math.max(0, n - 1) }), bit: fc.integer({ min: 0, max: 7 }) }), {
      minLength: 1,
      maxLength: 8,
    })
    .map((fs) => {
      const b = seedBytes.slice();
      for (const f of fs) if (b.length) b[f.at]! ^= 1 << f.bit;
      return b;
    });
  const inserts = fc
    .tuple(fc.integer({ min: 0, max: n }), fc.uint8Array({ minLength: 1, maxLength: 16 }))
    .map(([at, ins]) => Uint8Array.from([...seedBytes.subarray(0, at), ...ins, ...seedBytes.subarray(at)]));
  const bytes = fc.uint8Array({ maxLength: 512 });
  return fc.oneof(truncate, flips, flips, inserts, bytes);
}

for (const t of FUZZ_TARGETS) {
  if (only && !t.name.includes(only)) continue;
  process.stdout.write(`START ${t.name}\n`);
  let slowest = 0;
  // plain copies: a Node Buffer's slice() is a view, and the mutations below must never write into a seed
  const seeds = t.seeds().map((s) => Uint8Array.from(s));
  const check = async (bytes: Uint8Array) => {
    const t0 = performance.now();
    try {
      await t.run(bytes);
    } catch (error) {
      if (!(error instanceof VlferError))
        throw new Error(
          `threw ${(error as Error)?.name}: ${(error as Error)?.message} (not a VlferError naming the input)`,
        );
      if (!/fuzz|<|protobuf|pickle|encoded image/.test(error.message))
        throw new Error(`error does not name the input: ${error.message}`);
    }
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    if (ms > PER_CALL_MS) throw new Error(`took ${ms.toFixed(0)} ms (bound ${PER_CALL_MS} ms)`);
  };
  try {
    // every seed itself parses or fails with a named error too (the hostile seeds: with their budget error)
    for (const [i, s] of seeds.entries())
      await check(s).catch((error: unknown) => {
        throw new Error(`seed ${i}: ${(error as Error).message}`, { cause: error });
      });
    await fc.assert(fc.asyncProperty(fc.oneof(...seeds.map(mutated)), check), {
      numRuns: runs,
      seed,
      endOnFailure: true,
    });
    process.stdout.write(`OK ${t.name} ${runs} ${slowest.toFixed(1)}\n`);
  } catch (error) {
    const m = String((error as Error).message);
    const got = String(((error as Error).cause as Error | undefined)?.message ?? /Got error: (.*)/.exec(m)?.[1] ?? '');
    process.stdout.write(`FAIL ${t.name} ${got} | ${m.split('\n').slice(0, 3).join(' | ').slice(0, 3000)}\n`);
  }
}
process.stdout.write('DONE\n');
