import { env as transformersEnv } from '@huggingface/transformers';

/**
 * The one place that configures where models come from. Wraps transformers.js's `env`.
 * - `allowRemoteModels`: fetch from the Hugging Face Hub when a model is not found locally.
 * - `localModelPath`: directory that holds `<model id>/…` in the Hugging Face layout.
 * - `cacheDir`: where downloaded files are kept.
 * - `remoteHost`: a Hub mirror.
 */
export interface ModelEnvironment {
  allowRemoteModels: boolean;
  localModelPath: string;
  cacheDir: string | null;
  remoteHost: string;
}

process.env.ORT_DISABLE_TELEMETRY ??= '1';

export function configureModels(options: Partial<ModelEnvironment>): ModelEnvironment {
  if (options.allowRemoteModels !== undefined) transformersEnv.allowRemoteModels = options.allowRemoteModels;
  if (options.localModelPath !== undefined) transformersEnv.localModelPath = options.localModelPath;
  if (options.cacheDir !== undefined) transformersEnv.cacheDir = options.cacheDir;
  if (options.remoteHost !== undefined) transformersEnv.remoteHost = options.remoteHost;
  return getModelEnvironment();
}

export function getModelEnvironment(): ModelEnvironment {
  return {
    allowRemoteModels: transformersEnv.allowRemoteModels,
    localModelPath: transformersEnv.localModelPath,
    cacheDir: transformersEnv.cacheDir,
    remoteHost: transformersEnv.remoteHost,
  };
}

/**
 * The directory transformers.js' file cache keeps Hub downloads in (`cacheDir`), or undefined where it keeps none:
 * the file cache is off (`env.useFSCache`) or a custom cache (`env.useCustomCache`) takes its place.
 */
export function modelFileCacheDir(): string | undefined {
  if (!transformersEnv.useFSCache || transformersEnv.useCustomCache || !transformersEnv.cacheDir) return undefined;
  return transformersEnv.cacheDir;
}
