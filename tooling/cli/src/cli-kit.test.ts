import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatDuration, progressBars } from './index.js';

afterEach(() => vi.restoreAllMocks());

describe('progress output', () => {
  it('formats ETAs as seconds, minutes or hours', () => {
    expect([formatDuration(0.4), formatDuration(59.6), formatDuration(185), formatDuration(7620)]).toEqual([
      '0s',
      '1m00s',
      '3m05s',
      '2h07m',
    ]);
  });
  it('a bar that completes at once shows ETA 0s, never a placeholder from the bar library', () => {
    let out = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
      out += String(c);
      return true;
    });
    const p = progressBars(true);
    p({ phase: 'evaluate', done: 3, total: 3, unit: 'epochs' });
    p.stop();
    vi.restoreAllMocks();
    expect(out).toMatch(/evaluate .* 3\/3 epochs \| - epochs\/s \| ETA 0s/);
    expect(out).not.toMatch(/NULL|LLs|NaN|Infinity/);
  });
});
