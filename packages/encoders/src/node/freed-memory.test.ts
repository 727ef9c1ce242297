import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

const moduleUrl = new URL('./freed-memory.ts', import.meta.url).href;
const root = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * Runs, in a fresh Node process (malloc settings are the whole process's): without `churn`, only `keepFreedMemory`;
 * with it, churns of blocks malloc'd, written and freed (through koffi), three of eight 4 MiB blocks before
 * `keepFreedMemory` and three of four 24 MiB blocks after, and prints the minor page faults of the last churn of
 * each. The 24 MiB blocks are larger than any block freed before the call, so glibc's dynamic threshold (raised to
 * 4 MiB by then) would still map each of them afresh if only the trim threshold were set; if only the mmap threshold
 * were set, the freed 96 MiB would be trimmed at every churn.
 */
function child(
  env: NodeJS.ProcessEnv,
  churn: boolean,
): {
  before?: number;
  after?: number;
  status: { kept: boolean; reason?: string };
  again: unknown;
} {
  const script = `
    import { createRequire } from 'node:module';
    const { keepFreedMemory, freedMemoryStatus } = await import(${JSON.stringify(moduleUrl)});
    const koffi = createRequire(${JSON.stringify(fileURLToPath(new URL('./freed-memory.ts', import.meta.url)))})('koffi');
    const libc = koffi.load(null);
    const malloc = libc.func('void *malloc(size_t size)');
    const free = libc.func('void free(void *ptr)');
    const memset = libc.func('void *memset(void *s, int c, size_t n)');
    const faults = () => process.resourceUsage().minorPageFault;
    function churn(count, mib) {
      const f0 = faults();
      const blocks = Array.from({ length: count }, () => malloc(mib * 2 ** 20));
      for (const b of blocks) memset(b, 1, mib * 2 ** 20);
      for (const b of blocks) free(b);
      return faults() - f0;
    }
    let before, after;
    if (${churn}) for (let i = 0; i < 3; i++) before = churn(8, 4);
    const status = keepFreedMemory();
    if (${churn}) for (let i = 0; i < 3; i++) after = churn(4, 24);
    console.log(JSON.stringify({ before, after, status, again: keepFreedMemory() === status && freedMemoryStatus() === status }));
  `;
  return runScript(script, env);
}

/** Runs an ES module script from the TypeScript sources in a fresh Node process; its last line of stdout as JSON. */
function runScript<T>(script: string, env: NodeJS.ProcessEnv): T {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@vlfer/source', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: root, env, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`the child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

describe.runIf(process.platform === 'linux')('keepFreedMemory (Linux; glibc expected)', () => {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_') && k !== 'GLIBC_TUNABLES'),
  );

  it('makes glibc keep freed blocks: churns of 32 and 96 MiB stop faulting their pages in again', () => {
    const r = child(clean, true);
    expect(r.status).toEqual({ kept: true, mmapThresholdBytes: 32 * 2 ** 20, trimThresholdBytes: 2 ** 31 - 1 });
    expect(r.again).toBe(true); // later calls return the same status
    // glibc trims the 32 MiB freed at the top of its heap (beyond twice the 4 MiB threshold): 8192 pages faulted in
    // again at every churn. Kept, the 24 MiB blocks come from the heap and are reused (24,576 pages otherwise)
    // (relative, so that it holds where transparent huge pages fault 2 MiB at a time)
    expect(r.before).toBeGreaterThan(10);
    expect(r.after).toBeLessThan(r.before! / 10);
  }, 60_000);

  it('is called by ClipGradientModel.load on a CPU for gradient models, unless keepFreedMemory: false', () => {
    const script = `
      const { freedMemoryStatus } = await import(${JSON.stringify(moduleUrl)});
      const { ClipGradientModel } = await import(${JSON.stringify(new URL('./clip-gradients.ts', import.meta.url).href)});
      const model = ${JSON.stringify(sharedPath('fixtures', 'tiny-clip'))};
      await (await ClipGradientModel.load(model, { keepFreedMemory: false })).release();
      await (await ClipGradientModel.load(model, { gradients: false })).release(); // forward only: off by default
      const off = freedMemoryStatus() ?? null;
      await (await ClipGradientModel.load(model)).release();
      console.log(JSON.stringify({ off, on: freedMemoryStatus() }));
    `;
    const { off, on } = runScript<{ off: unknown; on: { kept: boolean } }>(script, clean);
    expect(off).toBeNull();
    expect(on.kept).toBe(true);
  }, 60_000);

  it.each([
    ['MALLOC_MMAP_THRESHOLD_', '33554432'],
    ['MALLOC_TRIM_THRESHOLD_', '4294967296'],
    ['MALLOC_TOP_PAD_', '0'],
    ['MALLOC_MMAP_MAX_', ''],
    ['GLIBC_TUNABLES', 'glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=1048576'],
  ])(
    "leaves a process alone whose environment sets malloc's thresholds (%s), and says so",
    (name, value) => {
      const r = child({ ...clean, [name]: value }, false);
      expect(r.status.kept).toBe(false);
      expect(r.status.reason).toContain(name === 'GLIBC_TUNABLES' ? 'glibc.malloc.trim_threshold' : name);
      expect(r.again).toBe(true);
    },
    60_000,
  );

  it('is not stopped by unrelated malloc settings', () => {
    const r = child({ ...clean, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', MALLOC_ARENA_MAX: '2' }, false);
    expect(r.status.kept).toBe(true);
  }, 60_000);
});
