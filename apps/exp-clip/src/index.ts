export { runEval, formatTable, type EvalResult, type FoldResult, type PromptTypeResult } from './eval.js';
export { EvalConfigSchema, parseEvalConfig, DATASET_KINDS, type EvalConfig, type EvalConfigInput } from './config.js';
export { runTrain, trainProjectionHead, TrainConfigSchema, type TrainConfig, type TrainConfigInput, type TrainResult, type StepLog, type TrainLoopOptions } from './train.js';
