import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { chartsFlag, chartsOption, noChartsOption } from './charts.js';

/** The `charts` value commander gives a command with both flags for `argv`. */
const parsed = (...argv: string[]) =>
  (
    new Command('ablations')
      .addOption(chartsOption())
      .addOption(noChartsOption())
      .exitOverride()
      .parse(argv, { from: 'user' })
      .opts() as { charts?: boolean }
  ).charts;

describe('--charts / --no-charts of vlfer bench', () => {
  it('neither flag leaves the choice open (charts when vega is installed); each flag decides', () => {
    expect(parsed()).toBeUndefined();
    expect(parsed('--charts')).toBe(true);
    expect(parsed('--no-charts')).toBe(false);
  });
  it('the help names the install command', () => {
    expect(chartsOption().description).toContain('npm install vega@^5.33.1 vega-lite@^5.23.0');
  });
  it('a cluster task repeats the flag that was given, and none when none was', () => {
    expect(chartsFlag({})).toEqual([]);
    expect(chartsFlag({ charts: true })).toEqual(['--charts']);
    expect(chartsFlag({ charts: false })).toEqual(['--no-charts']);
  });
});
