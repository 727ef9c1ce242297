import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

const moduleUrl = new URL('./freed-memory.ts', import.meta.url).href;
const root = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * Runs, in a fresh Node process (malloc settings are the whole process's): without `churn`, only `keepFreedMemory`;
 * with it, `keepFreedMemory` and then three churns of four 24 MiB blocks malloc'd, written and freed (through koffi),
 * and prints the minor page faults of the first churn (fresh pages) and of the last. Without the call, glibc maps
 * 24 MiB blocks afresh (above its default 128 KiB threshold) or, once its dynamic threshold has risen, trims the
 * freed 96 MiB from the top of its heap, so every churn faults its pages in again; with it, they come from the heap
 * and stay there. (Trimming alone is no fit control: a small block another part of Node mallocs above them in the
 * meantime keeps the top from shrinking, which happened once under CI's load.)
 */
function child(
  env: NodeJS.ProcessEnv,
  churn: boolean,
): {
  first?: number;
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
    let first, after;
    const status = keepFreedMemory();
    if (${churn}) {
      first = churn(4, 24);
      churn(4, 24);
      after = churn(4, 24);
    }
    console.log(JSON.stringify({ first, after, status, again: keepFreedMemory() === status && freedMemoryStatus() === status }));
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

  it('makes glibc keep freed blocks: churns of 96 MiB stop faulting their pages in again', () => {
    const r = child(clean, true);
    expect(r.status).toEqual({ kept: true, mmapThresholdBytes: 32 * 2 ** 20, trimThresholdBytes: 2 ** 31 - 1 });
    expect(r.again).toBe(true); // later calls return the same status
    // the first churn faults 24,576 fresh pages in (48 where transparent huge pages fault 2 MiB at a time, hence
    // relative); kept, the blocks of the later churns are the same heap pages
    expect(r.first).toBeGreaterThan(10);
    expect(r.after).toBeLessThan(r.first! / 10);
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
