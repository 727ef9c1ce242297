import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { provenance } from '@vlfer/core/node';
import { directRunsStatus, freedMemoryStatus, runtimeVersions } from '@vlfer/encoders/node';

/**
 * The machine's cumulative CPU time by state, in clock ticks, from the first line of `/proc/stat` (all CPUs):
 * user, nice, system, idle, iowait, irq, softirq, steal. `undefined` where there is no `/proc/stat` (not Linux).
 * @throws when the file exists but its first line is not the `cpu` summary
 */
export function cpuTicks(read: () => string = () => readFileSync('/proc/stat', 'utf8')): number[] | undefined {
  let text: string;
  try {
    text = read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const fields = text.split('\n', 1)[0]!.trim().split(/\s+/);
  const ticks = fields.slice(1, 9).map(Number);
  if (fields[0] !== 'cpu' || ticks.length < 8 || !ticks.every(Number.isFinite))
    throw new Error(
      `/proc/stat: expected a first line 'cpu user nice system idle iowait irq softirq steal …', got '${fields.join(' ').slice(0, 120)}'`,
    );
  return ticks;
}

/**
 * How the machine's CPUs spent the time between two {@link cpuTicks} readings, as shares of it (0–1): `busy`
 * (user, nice, system, irq, softirq), `idle` (idle, iowait) and `steal` (time the hypervisor gave to other guests:
 * on a shared host, the part of a slowdown that no load average on this machine shows).
 */
export function cpuShares(
  before: readonly number[],
  after: readonly number[],
): { busy: number; idle: number; steal: number } {
  const d = after.map((v, i) => v - (before[i] ?? 0));
  const total = d.reduce((a, b) => a + b, 0);
  if (total <= 0) return { busy: 0, idle: 0, steal: 0 };
  const [user, nice, system, idle, iowait, irq, softirq, steal] = d as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { busy: (user + nice + system + irq + softirq) / total, idle: (idle + iowait) / total, steal: steal / total };
}

/** /proc/stat when this module was loaded: a bench imports it at its start */
const ticksAtStart = cpuTicks();
const startedAt = new Date().toISOString();

/**
 * What produced a benchmark result: code (git SHA + dirty), package and runtime versions, CPU, date, and how busy the
 * machine was: the load averages when the result is written and the CPU time shares (busy, idle, stolen by the
 * hypervisor) since the bench started, whether glibc's malloc was told to keep freed memory (`keepFreedMemory`,
 * as the PyTorch peer's environment tells it), and whether ONNX Runtime's C API loads (`directRunsStatus`). In a module of its own so that a bench that times its own start-up
 * (`bench:load`) records it without importing the encode bench.
 */
export function benchEnvironment(): Record<string, unknown> {
  const now = cpuTicks();
  return {
    ...provenance({ runtime: runtimeVersions() }),
    date: new Date().toISOString(),
    machine: {
      loadAverage: loadavg(),
      ...(ticksAtStart && now ? { since: startedAt, cpuShares: cpuShares(ticksAtStart, now) } : {}),
    },
    freedMemory: freedMemoryStatus() ?? { kept: false, reason: 'keepFreedMemory was not called' },
    // whether ONNX Runtime's C API loads here (a gradient model then writes its vision residuals in place)
    directRuns: directRunsStatus(),
  };
}
