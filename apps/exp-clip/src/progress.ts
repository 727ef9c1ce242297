import { SingleBar, Presets } from 'cli-progress';

/** A progress bar on stderr with rate and ETA; a no-op when disabled. */
export function createProgress(enabled: boolean, label: string): { update(done: number, total: number): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate} items/s | ETA {eta_formatted}`, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 5000, etaBuffer: 50 },
    Presets.shades_classic,
  );
  let started = false;
  const t0 = performance.now();
  let first = 0;
  return {
    update(done, total) {
      if (!started) { bar.start(total, done, { rate: '0.0' }); started = true; first = done; return; }
      const s = (performance.now() - t0) / 1000;
      bar.update(done, { rate: s > 0 ? ((done - first) / s).toFixed(1) : '0.0' });
    },
    stop() { if (started) bar.stop(); },
  };
}
