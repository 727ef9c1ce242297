export { runHesp, evaluateRun, loadHespData, HespConfigSchema, type HespConfig, type HespConfigInput, type EpochRecord, type HespRunResult } from './run.js';
