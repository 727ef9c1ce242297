export { runEval, formatTable, type EvalResult, type FoldResult, type PromptTypeResult } from './eval.js';
export { EvalConfigSchema, parseEvalConfig, DATASET_KINDS, type EvalConfig, type EvalConfigInput } from './config.js';
