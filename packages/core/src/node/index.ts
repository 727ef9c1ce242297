/**
 * @file `@vlfer/core/node`: the Node.js half of core — file I/O that never leaves half-written files, run
 * directories (locks, output sets with manifests), checksummed checkpoints and caches, content fingerprints,
 * provenance. The main entry `@vlfer/core` is runtime-neutral.
 */
export {
  writeFileAtomic,
  writeJsonAtomic,
  writeFileDurable,
  appendLine,
  readTextFile,
  readBytesFile,
  ensureDir,
  fsyncDir,
  setWriteFailpoint,
  setFailpoint,
  failpointCount,
  renamePath,
  removePath,
} from './fs.js';
export type { FailpointKind } from './fs.js';
export { forEachJsonLine, jsonLinesText, readJsonLines } from './jsonl.js';
export { forEachLine, type TextLine } from './lines.js';
export { hashBytes, hashFile, hashFileIndexed, fileStateKey, fingerprintFiles, type FileHashIndex } from './hash.js';
export type { FeatureNamespace } from './vector-cache.js';
export { FeatureCache } from './vector-cache.js';
export type { RunLockInfo, RunManifest, OpenRunOptions, RunKind, ProcessRecord } from './run-dir.js';
export {
  RunDirectory,
  checkRunKind,
  claimRunKind,
  currentProcess,
  processGone,
  otherKindOfRun,
  recordedRunKind,
  RUN_KIND_FILE,
  RUN_WORK_DIR,
  verifyRunOutputs,
  readPublishedObject,
  recoverRunDirectory,
  RUN_LOCK_FILE,
  MANIFEST_FILE,
  PUBLISH_JOURNAL_FILE,
} from './run-dir.js';
export type { CheckpointContent, CheckpointMetaParser, OptimizerStateLike } from './checkpoint.js';
export { saveCheckpoint, loadCheckpoint, loadCommandCheckpoint } from './checkpoint.js';
export type { Provenance } from './provenance.js';
export { provenance, codeRevision, detectGpus } from './provenance.js';
export type { SafetensorsFileIndex } from './files.js';
export {
  readSafetensors,
  openSafetensorsFile,
  writeSafetensors,
  readTorchCheckpointFile,
  readTorchCheckpointFileAsync,
} from './files.js';
export type { ShardRecord, ShardRecordInput, CheckShardRecordsOptions } from './shard-record.js';
export {
  SHARD_RECORD_FORMAT,
  canonicalJson,
  rowChecksum,
  shardRecordPath,
  writeShardRecord,
  readShardRecord,
  checkShardRecords,
  shardRecordProblems,
} from './shard-record.js';
export type { ThreadOptions } from './threads.js';
export { defaultThreads, maxThreads, notAnOnnxModel, ortSessionOptions, threadCountProblem } from './threads.js';
