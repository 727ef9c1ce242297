import { createHash } from 'node:crypto';
import { describeValue } from '../describe.js';
import { ChecksumError, DataFormatError } from '../errors.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from '../safetensors.js';
import { readBytesFile, writeFileAtomic } from './fs.js';

/** Optimiser state as `@vlfer/losses` optimisers report it. */
export interface OptimizerStateLike {
  step: number;
  buffers: Record<string, Float32Array>;
}

/** What a training checkpoint holds: named tensors, optional optimiser state, and JSON metadata. */
export interface CheckpointContent {
  tensors: Record<string, SafetensorsTensor>;
  optimizer?: OptimizerStateLike;
  /** JSON-serialisable metadata (epoch, step, fingerprints …); validated by the reader's own schema. */
  meta: Record<string, unknown>;
}

const OPT = 'optimizer.';

function checksum(tensors: Record<string, SafetensorsTensor>, metaJson: string): string {
  const h = createHash('sha256').update(metaJson).update('\0');
  for (const k of Object.keys(tensors).sort()) {
    const t = tensors[k]!;
    h.update(`${k}\0${t.dims.join(',')}\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/**
 * Save a checkpoint atomically (fsynced temp file + rename) as safetensors whose metadata holds the JSON
 * `meta`, the optimiser step and a SHA-256 over metadata and every tensor, checked by `loadCheckpoint`.
 * One format for every trainer (Exp-CLIP heads, HESP prompts).
 */
export function saveCheckpoint(path: string, content: CheckpointContent): void {
  const tensors: Record<string, SafetensorsTensor> = { ...content.tensors };
  for (const [k, v] of Object.entries(content.optimizer?.buffers ?? {}))
    tensors[`${OPT}${k}`] = { dims: [v.length], data: v };
  const meta = JSON.stringify({
    ...content.meta,
    ...(content.optimizer ? { optimizerStep: content.optimizer.step } : {}),
  });
  writeFileAtomic(
    path,
    encodeSafetensors(tensors, { format: 'vlfer-checkpoint', version: '1', meta, sha256: checksum(tensors, meta) }),
  );
}

/**
 * Load and verify a checkpoint written by `saveCheckpoint`.
 * @throws ChecksumError naming the file when any byte of metadata or tensors changed; DataFormatError for
 *   anything that is not such a checkpoint
 */
export function loadCheckpoint(path: string): CheckpointContent {
  const file = decodeSafetensors(readBytesFile(path, 'checkpoint'), path);
  const md = file.metadata;
  if (md.format !== 'vlfer-checkpoint' || md.version !== '1')
    throw new DataFormatError({
      file: path,
      field: '__metadata__.format',
      message: `not a vlfer checkpoint (format '${md.format ?? ''}', version '${md.version ?? ''}'); delete it or choose another output directory`,
    });
  if (typeof md.meta !== 'string' || typeof md.sha256 !== 'string')
    throw new DataFormatError({ file: path, field: '__metadata__', message: 'meta or sha256 missing' });
  const got = checksum(file.tensors, md.meta);
  if (got !== md.sha256)
    throw new ChecksumError({
      file: path,
      message: `checksum mismatch (stored ${md.sha256.slice(0, 12)}…, computed ${got.slice(0, 12)}…): the file was damaged or edited; delete it to restart, or restore it`,
    });
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(md.meta) as Record<string, unknown>;
  } catch (error) {
    throw new DataFormatError({ file: path, field: '__metadata__.meta', message: 'not JSON', cause: error });
  }
  const tensors: Record<string, SafetensorsTensor> = {};
  const buffers: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(file.tensors)) {
    if (k.startsWith(OPT)) buffers[k.slice(OPT.length)] = v.data;
    else tensors[k] = v;
  }
  const step = meta.optimizerStep;
  const { optimizerStep: _drop, ...rest } = meta;
  void _drop;
  if (step !== undefined && !(Number.isSafeInteger(step) && (step as number) >= 0))
    throw new DataFormatError({
      file: path,
      field: 'optimizerStep',
      message: `expected a non-negative integer, got ${describeValue(step)}`,
    });
  return { tensors, meta: rest, ...(step !== undefined ? { optimizer: { step: step as number, buffers } } : {}) };
}

/** What validates a checkpoint's metadata: a zod schema (its `safeParse`), or anything of that shape. */
export interface CheckpointMetaParser<T> {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/**
 * `loadCheckpoint` for one command's runs: a checkpoint of another command is refused with what `otherCommand` says
 * of its metadata, then the metadata is validated by `schema`.
 * @throws the error `otherCommand` returns; DataFormatError naming the file and the first invalid field
 */
export function loadCommandCheckpoint<T>(
  path: string,
  schema: CheckpointMetaParser<T>,
  otherCommand: (meta: Record<string, unknown>) => Error | undefined,
): { content: CheckpointContent; meta: T } {
  const content = loadCheckpoint(path);
  const other = content.meta && typeof content.meta === 'object' ? otherCommand(content.meta) : undefined;
  if (other) throw other;
  const m = schema.safeParse(content.meta);
  if (!m.success)
    throw new DataFormatError({
      file: path,
      field: m.error.issues[0]!.path.join('.'),
      message: `${m.error.issues[0]!.message}; delete the checkpoint to restart`,
    });
  return { content, meta: m.data };
}
