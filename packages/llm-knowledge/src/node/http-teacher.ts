import { setMaxListeners } from 'node:events';
import { extname } from 'node:path';
import { AbortedError, InvalidArgumentError, mapConcurrently, MAX_TIMER_MS, VlferError } from '@vlfer/core';
import { readBytesFile } from '@vlfer/core/node';
import type { Teacher } from '../teacher.js';

export interface HttpTeacherOptions {
  /** Server base URL with its scheme, e.g. `http://127.0.0.1:8000` (vLLM `--task embed`, llama.cpp `--embeddings`). */
  baseUrl: string;
  /**
   * Model name sent in the request; with `baseUrl`, the teacher's id (`http:<model>@<baseUrl>`), which keys its cached
   * targets: a server that answers with another model under the same name is refused by `computeTargets` (it asks
   * for one cached image again), so give a new model another name (e.g. with its revision) or use another cache
   * directory.
   */
  model: string;
  /**
   * The model name the server's replies report (their `model` field) where it is not `model`: a proxy that serves
   * `model` as an alias of another, a server that reports its own model id whatever the request names. A reply that
   * reports another model is refused (not retried): its embedding was computed by a model the cache would not file it
   * under. A reply without a `model` field (or with null) is taken. Several names: a router that spreads requests
   * over deployments of one model, each reporting its own name. @default model
   */
  replyModel?: string | readonly string[];
  /** Requests in flight at once. @default 8 */
  concurrency?: number;
  /** Per-request timeout in ms, at most 2³¹ − 1 (Node's longest timer, 24.8 days). @default 60000 */
  timeoutMs?: number;
  /** Retries after a network error, timeout, 408, 429, 5xx or a reply that is not the expected JSON. @default 3 */
  maxRetries?: number;
  /**
   * First backoff delay in ms (doubles each retry, up to `MAX_BACKOFF_MS`); a 429 or 503 reply's `Retry-After` is
   * waited instead where longer, up to `MAX_RETRY_AFTER_MS`. @default 500
   */
  backoffMs?: number;
  /**
   * Sent as `Authorization: Bearer …` when set (never written to the cache or a run; vlfer's CLI reads it from
   * `$VLFER_TEACHER_API_KEY`). A `baseUrl` holding credentials (`user:token@host`) is refused: the URL is the
   * teacher's id, which is written to the cache and said in errors.
   */
  apiKey?: string;
  /** Expected embedding dimension, if known. */
  dim?: number;
  /** Called before each retry (what failed, attempt number), so a CLI can show it. */
  onRetry?: (message: string, attempt: number) => void;
}

const MIME: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.gif': 'image/gif',
};

/** A failure worth another attempt: a network error, timeout, 408, 429, 5xx, or a reply that is not the expected JSON. */
export class RetryableError extends Error {
  /** @param retryAfterMs what the reply's `Retry-After` asked for, in ms */
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The longest backoff between retries (the doubling stops there). */
export const MAX_BACKOFF_MS = 30_000;
/** The longest `Retry-After` waited; a server asking for longer fails the request now, saying so. */
export const MAX_RETRY_AFTER_MS = 300_000;

/**
 * A `Retry-After` header in ms: delay-seconds, or an HTTP date (from `now`); undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const v = header.trim();
  // delay-seconds (a decimal one taken as meant); Date.parse read '45.5' as the year 2045
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  // an HTTP-date starts with the day's name ('Sun, 06 Nov 1994 08:49:37 GMT', or the obsolete forms)
  if (!/^[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A URL with whatever may be credentials replaced by `***`: everything between the scheme and the last `@` (a token
 * may hold `/` or `@`, and `http:user:token@host` parses too).
 */
const redacted = (url: string) => {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]*/.exec(url)?.[0] ?? '';
  return `${scheme}***${url.slice(at)}`;
};

/**
 * A text (a reply body, an error) with the token replaced by `***`: a server that echoes what it was sent, or a
 * header error quoting it, would print it in errors and retry lines.
 */
const withoutToken = (text: string, apiKey: string | undefined) => (apiKey ? text.split(apiKey).join('***') : text);

/** The message of a network failure with its cause (Node's fetch says only "fetch failed"; the code is in `cause`). */
function networkMessage(error: unknown): string {
  const e = error as {
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string; errors?: { code?: string; message?: string }[] };
  };
  const c = e.cause?.errors?.[0] ?? e.cause;
  if (c?.code || c?.message) return `${c.code ?? ''}${c.code && c.message ? ': ' : ''}${c.message ?? ''}`.trim();
  return e.message ?? String(error);
}

/** The checked settings of an HTTP teacher. */
export interface HttpTeacherSettings {
  /** `{baseUrl}/v1/embeddings` */
  url: string;
  model: string;
  /** what a reply's `model` field may say, where it has one (`HttpTeacherOptions.replyModel`, else `model`) */
  replyModels: readonly string[];
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
  backoffMs: number;
  apiKey?: string;
}

/**
 * A teacher's base URL: http(s), without credentials (the URL is the teacher's id, written to the cache and said in
 * errors; the token goes in `apiKey`). @throws InvalidArgumentError naming `baseUrl`, its credentials hidden
 */
function checkBaseUrl(baseUrl: string): void {
  let base: URL | undefined;
  try {
    base = new URL(baseUrl);
  } catch {
    base = undefined;
  }
  if (!base || (base.protocol !== 'http:' && base.protocol !== 'https:'))
    throw new InvalidArgumentError({
      functionName: 'httpTeacher',
      argument: 'baseUrl',
      message: `'${redacted(String(baseUrl))}' is not an http(s) URL; give the scheme, e.g. http://127.0.0.1:8000`,
    });
  if (base.username || base.password)
    throw new InvalidArgumentError({
      functionName: 'httpTeacher',
      argument: 'baseUrl',
      message: `'${redacted(baseUrl)}' holds credentials; the URL is the teacher's id, written to the cache and said in errors: give the token as apiKey (the CLI reads $VLFER_TEACHER_API_KEY)`,
    });
}

/**
 * `model` and `replyModel` of an HTTP teacher: non-blank names (`replyModel` one or a non-empty list).
 * @returns the reply model names given, as a list (undefined where none)
 * @throws InvalidArgumentError naming the option
 */
function checkModelNames(options: HttpTeacherOptions): readonly string[] | undefined {
  const replyModels = typeof options.replyModel === 'string' ? [options.replyModel] : options.replyModel;
  for (const [k, names] of [
    ['model', [options.model]],
    ['replyModel', replyModels ?? []],
  ] as const)
    for (const name of names as readonly unknown[])
      if (typeof name !== 'string' || name.trim() === '')
        throw new InvalidArgumentError({
          functionName: 'httpTeacher',
          argument: k,
          message: `must be a non-empty model name${k === 'replyModel' ? ' (or a list of them)' : ''}, got ${JSON.stringify(name)}`,
        });
  if (replyModels?.length === 0)
    throw new InvalidArgumentError({
      functionName: 'httpTeacher',
      argument: 'replyModel',
      message: 'is an empty list; leave it out to expect the model asked for',
    });
  return replyModels;
}

/**
 * Checks the options of {@link httpTeacher} and fills the defaults.
 * @throws InvalidArgumentError naming `baseUrl` (not an http(s) URL, or holding credentials), `concurrency` or
 *   `timeoutMs` (not a positive integer; a timeout past Node's longest timer), `maxRetries` (not an integer ≥ 0) or
 *   `apiKey` (a character no HTTP header carries)
 */
export function httpTeacherSettings(options: HttpTeacherOptions): HttpTeacherSettings {
  checkBaseUrl(options.baseUrl);
  const concurrency = options.concurrency ?? 8;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxRetries = options.maxRetries ?? 3;
  const backoffMs = options.backoffMs ?? 500;
  for (const [k, v] of [
    ['concurrency', concurrency],
    ['timeoutMs', timeoutMs],
  ] as const)
    if (!(Number.isInteger(v) && v > 0))
      throw new InvalidArgumentError({
        functionName: 'httpTeacher',
        argument: k,
        message: `must be a positive integer, got ${v}`,
      });
  if (timeoutMs > MAX_TIMER_MS)
    throw new InvalidArgumentError({
      functionName: 'httpTeacher',
      argument: 'timeoutMs',
      message: `must be at most ${MAX_TIMER_MS} (24.8 days, Node's longest timer), got ${timeoutMs}`,
    });
  if (!(Number.isInteger(maxRetries) && maxRetries >= 0))
    throw new InvalidArgumentError({
      functionName: 'httpTeacher',
      argument: 'maxRetries',
      message: `must be an integer ≥ 0, got ${maxRetries}`,
    });
  // visible ASCII: another character made fetch throw an invalid-header error quoting the token, retried as a network error
  if (options.apiKey !== undefined && !/^[\x21-\x7e]+$/.test(options.apiKey))
    throw new InvalidArgumentError({
      functionName: 'httpTeacher',
      argument: 'apiKey',
      message: `holds a character an HTTP header cannot carry (a space, a line break or a non-ASCII character; ${options.apiKey.length} characters); give the token alone`,
    });
  const replyModels = checkModelNames(options);
  const url = `${teacherBaseUrl(options.baseUrl)}/v1/embeddings`;
  return {
    url,
    model: options.model,
    replyModels: replyModels ?? [options.model],
    concurrency,
    timeoutMs,
    maxRetries,
    backoffMs,
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
  };
}

/** The base URL as the teacher's id and requests use it: without trailing slashes (`…:8000/` is `…:8000`). */
export function teacherBaseUrl(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

/**
 * The request body for one image: a `messages` conversation holding the image as a data URL (MIME type from the
 * extension) and then the instruction as text, `encoding_format: "float"`. Reads the image file.
 */
export function embeddingRequestBody(model: string, image: string, instruction: string): string {
  const mime = MIME[extname(image).toLowerCase()] ?? 'application/octet-stream';
  return JSON.stringify({
    model,
    encoding_format: 'float',
    messages: [
      {
        role: 'user',
        content: [
          {
            type: 'image_url',
            image_url: {
              url: `data:${mime};base64,${Buffer.from(readBytesFile(image, 'image')).toString('base64')}`,
            },
          },
          { type: 'text', text: instruction },
        ],
      },
    ],
  });
}

/**
 * The embedding in a reply body: `data[0].embedding`, a non-empty array of numbers, as float32.
 * @throws RetryableError when the text is not JSON or holds no such embedding
 */
export function parseEmbeddingReply(text: string): Float32Array {
  return parseReply(text).embedding;
}

/** {@link parseEmbeddingReply}'s embedding and the reply's `model` field (as sent; undefined where absent). */
function parseReply(text: string): { embedding: Float32Array; model: unknown } {
  let json: { data?: { embedding?: unknown; index?: unknown }[]; model?: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch (error) {
    throw new RetryableError(
      `the reply is not JSON (${(error as Error).message}; starts with ${JSON.stringify(text.slice(0, 80))})`,
    );
  }
  // one conversation was sent: its embedding is the one entry, index 0 (another entry would be another input's)
  const data = json?.data;
  if (Array.isArray(data) && (data.length !== 1 || (data[0]?.index !== undefined && data[0]?.index !== 0)))
    throw new RetryableError(
      `the reply holds ${data.length === 1 ? `one entry with index ${JSON.stringify(data[0]?.index)}` : `${data.length} entries`} for the one input sent; expected one, index 0 (starts with ${JSON.stringify(text.slice(0, 80))})`,
    );
  const e = data?.[0]?.embedding;
  if (!Array.isArray(e) || e.length === 0 || !e.every((x) => typeof x === 'number'))
    throw new RetryableError(
      `the reply has no numeric data[0].embedding (starts with ${JSON.stringify(text.slice(0, 80))})`,
    );
  return { embedding: Float32Array.from(e), model: json.model };
}

/**
 * The longest reply read: an embedding of 4096 floats is about 80 KB of JSON; a server that sends more than this
 * (a stream that does not end, a misrouted download) fails the request instead of filling the memory.
 */
export const MAX_REPLY_BYTES = 64 * 2 ** 20;

/**
 * The reply body as text, read up to {@link MAX_REPLY_BYTES}.
 * @throws VlferError (not retried) naming the URL and the image when the body is longer
 */
async function replyText(res: Response, url: string, image: string): Promise<string> {
  const tooLong = (bytes: string) =>
    new VlferError(
      `Teacher server ${url} sent a reply of ${bytes} for ${image}, more than the ${MAX_REPLY_BYTES / 2 ** 20} MiB vlfer reads (an embedding is some kilobytes of JSON): is this the embeddings endpoint of an OpenAI-compatible server?`,
    );
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_REPLY_BYTES) {
    await res.body?.cancel();
    throw tooLong(`${declared} bytes (Content-Length)`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    // leaving the loop by a throw cancels the stream (the iterator's return)
    if (size > MAX_REPLY_BYTES) throw tooLong(`over ${MAX_REPLY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * One embeddings request for `image`, within `settings.timeoutMs`.
 * @throws AbortedError when `signal` fires; RetryableError for a network error, timeout, 408, 429, 5xx or a bad
 *   reply; VlferError for another HTTP error (naming the URL and image)
 */
export async function requestEmbedding(
  settings: HttpTeacherSettings,
  image: string,
  instruction: string,
  signal: AbortSignal | undefined,
): Promise<Float32Array> {
  const { url, timeoutMs } = settings;
  const body = embeddingRequestBody(settings.model, image, instruction);
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {}),
      },
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      // a redirect is said, not followed: another server's answers would be cached under this URL's id
      redirect: 'manual',
    });
    text = await replyText(res, url, image);
  } catch (error) {
    if (error instanceof VlferError) throw error;
    if (signal?.aborted) throw new AbortedError(`teacher request for ${image}`, { cause: error });
    const why = timeout.aborted ? `timed out after ${timeoutMs} ms` : networkMessage(error);
    throw new RetryableError(withoutToken(why, settings.apiKey));
  }
  const said = (n: number) => withoutToken(text, settings.apiKey).slice(0, n);
  const location = res.headers.get('location');
  if ([301, 302, 303, 307, 308].includes(res.status))
    throw new VlferError(
      `Teacher server ${url} answered HTTP ${res.status}, a redirect to ${location === null ? '(no Location header)' : URL.canParse(location, url) ? new URL(location, url).href : location}, for ${image}: give the URL of the server that answers (the teacher's URL is its id, under which its targets are cached)`,
    );
  if (res.status === 408 || res.status === 429 || res.status >= 500)
    throw new RetryableError(
      `HTTP ${res.status} ${said(200)}`,
      res.status === 429 || res.status === 503 ? retryAfterMs(res.headers.get('retry-after')) : undefined,
    );
  if (!res.ok) throw new VlferError(`Teacher server ${url} answered HTTP ${res.status} for ${image}: ${said(500)}`);
  const reply = parseReply(withoutToken(text, settings.apiKey));
  refuseOtherReplyModel(reply.model, settings, image);
  return reply.embedding;
}

/**
 * Refuses a reply whose `model` field (`reported`) names another model than
 * `settings.replyModels`: a router that sent the request to another model answers with that model's embedding.
 * @throws VlferError (not retried) naming the URL, the image and both model names
 */
function refuseOtherReplyModel(reported: unknown, settings: HttpTeacherSettings, image: string): void {
  if (reported === undefined || reported === null || settings.replyModels.includes(reported as string)) return; // null: none said
  const expected = settings.replyModels.map((m) => JSON.stringify(m)).join(' or ');
  const other = settings.replyModels.join('\0') !== settings.model;
  throw new VlferError(
    `Teacher server ${settings.url} answered for ${image} with model ${JSON.stringify(reported)}, not ${expected}${other ? ' (replyModel)' : ' (the model asked for)'}: its embedding is another model's, and the targets are cached under the teacher ${JSON.stringify(settings.model)}. Ask the server for the model it serves; where it names the model asked for otherwise (a proxy's alias, a server reporting its own id), give that name as replyModel (the CLI's --teacher-reply-model)`,
  );
}

/**
 * Waits `ms`, or rejects with an AbortedError (naming `image`) as soon as `signal` fires. The abort listener goes
 * with the wait (one per retry stayed on the signal: Node warned of a leak past 10).
 */
function backoff(ms: number, signal: AbortSignal | undefined, image: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(`teacher request for ${image}`));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortedError(`teacher request for ${image}`));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The wait before retry k + 1: `backoffMs · 2^k` up to `MAX_BACKOFF_MS`, or the server's `Retry-After` where longer.
 * @returns undefined when the server asks for longer than `MAX_RETRY_AFTER_MS`
 */
export function retryDelayMs(backoffMs: number, k: number, retryAfter?: number): number | undefined {
  if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) return undefined;
  return Math.max(Math.min(backoffMs * 2 ** k, MAX_BACKOFF_MS), retryAfter ?? 0);
}

/**
 * `attempt()` retried after a RetryableError up to `settings.maxRetries` times, waiting `backoffMs · 2^k` before
 * retry k + 1 and telling `onRetry`. Other errors pass through at once.
 * @throws VlferError naming the image, the URL and the attempts when every attempt failed
 */
export async function withRetries<T>(
  settings: Pick<HttpTeacherSettings, 'url' | 'maxRetries' | 'backoffMs'>,
  image: string,
  attempt: () => Promise<T>,
  signal: AbortSignal | undefined,
  onRetry?: (message: string, attempt: number) => void,
): Promise<T> {
  const { maxRetries } = settings;
  for (let k = 0; ; k++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      if (k >= maxRetries)
        throw new VlferError(
          `Teacher request for ${image} to ${settings.url} failed after ${maxRetries + 1} attempt${maxRetries ? 's' : ''}: ${error.message}`,
          { cause: error },
        );
      const wait = retryDelayMs(settings.backoffMs, k, error.retryAfterMs);
      if (wait === undefined)
        throw new VlferError(
          `Teacher request for ${image} to ${settings.url}: the server asks to retry after ${Math.round(error.retryAfterMs! / 1000)} s (Retry-After), longer than vlfer waits (${MAX_RETRY_AFTER_MS / 1000} s); rerun later (the targets computed so far are cached): ${error.message}`,
          { cause: error },
        );
      onRetry?.(`${image}: ${error.message}; retry ${k + 1} of ${maxRetries} in ${(wait / 1000).toFixed(1)} s`, k + 1);
      await backoff(wait, signal, image);
    }
  }
}

/**
 * A teacher served over an OpenAI-compatible embeddings endpoint (`POST {baseUrl}/v1/embeddings`) with the
 * multimodal chat form vLLM accepts: one `messages` conversation per image (image as a data URL, then the
 * instruction as text), `encoding_format: "float"`. Requests run `concurrency` at a time with timeouts and retries;
 * every failure names the image and the URL; an AbortSignal cancels requests in flight.
 * Stages: {@link httpTeacherSettings} → per image {@link withRetries} of {@link requestEmbedding}, run by
 * {@link mapConcurrently}.
 * @throws InvalidArgumentError at once for a URL without http(s) scheme
 */
export function httpTeacher(options: HttpTeacherOptions): Teacher {
  const settings = httpTeacherSettings(options);
  return {
    id: `http:${options.model}@${teacherBaseUrl(options.baseUrl)}`,
    source: settings.url,
    ...(options.dim !== undefined ? { dim: options.dim } : {}),
    async embed(images, instruction, call) {
      // the first failure stops the other requests (they went on through their retries before it was said)
      const stop = new AbortController();
      const signal = call?.signal ? AbortSignal.any([call.signal, stop.signal]) : stop.signal;
      // each request in flight may wait on it at once (a retry's backoff): not a leak past Node's 10
      setMaxListeners(Math.max(10, 2 * settings.concurrency), signal);
      let first: unknown;
      try {
        return await mapConcurrently([...images.keys()], settings.concurrency, (i) =>
          withRetries(
            settings,
            images[i]!,
            () => requestEmbedding(settings, images[i]!, instruction, signal),
            signal,
            options.onRetry,
          )
            .then((v) => {
              call?.onResult?.(i, v);
              return v;
            })
            .catch((error: unknown) => {
              first ??= error;
              stop.abort();
              throw error;
            }),
        );
      } catch (error) {
        throw first ?? error; // not a request stopped by it
      }
    },
  };
}
