import { provenance } from '@vlfer/core/node';
import { runtimeVersions } from '@vlfer/encoders/node';

/**
 * What produced a benchmark result: code (git SHA + dirty), package and runtime versions, CPU, date. In a module of
 * its own so that a bench that times its own start-up (`bench:load`) records it without importing the encode bench.
 */
export function benchEnvironment(): Record<string, unknown> {
  return { ...provenance({ runtime: runtimeVersions() }), date: new Date().toISOString() };
}
