import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { VlferError } from '@vlfer/core';
import type { Teacher } from './teacher.js';

export interface HttpTeacherOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8000` (vLLM `--task embed`, llama.cpp `--embeddings`). */
  baseUrl: string;
  /** Model name sent in the request. */
  model: string;
  /** Requests in flight at once. @default 8 */
  concurrency?: number;
  /** Per-request timeout in ms. @default 60000 */
  timeoutMs?: number;
  /** Retries after a network error, timeout, 408, 429 or 5xx, with exponential backoff. @default 3 */
  maxRetries?: number;
  /** First backoff delay in ms (doubles each retry). @default 500 */
  backoffMs?: number;
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string;
  /** Expected embedding dimension, if known. */
  dim?: number;
}

const MIME: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp', '.bmp': 'image/bmp', '.gif': 'image/gif' };

class RetryableError extends Error {}

/**
 * A teacher served over an OpenAI-compatible embeddings endpoint (`POST {baseUrl}/v1/embeddings`) with the
 * multimodal chat form vLLM accepts: one `messages` conversation per image (image as a data URL, then the
 * instruction as text), `encoding_format: "float"`. Requests run `concurrency` at a time with timeouts and retries.
 */
export function httpTeacher(options: HttpTeacherOptions): Teacher {
  const { baseUrl, model } = options;
  const concurrency = options.concurrency ?? 8;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxRetries = options.maxRetries ?? 3;
  const backoffMs = options.backoffMs ?? 500;
  const url = `${baseUrl.replace(/\/+$/, '')}/v1/embeddings`;

  async function once(image: string, instruction: string): Promise<Float32Array> {
    const mime = MIME[extname(image).toLowerCase()] ?? 'application/octet-stream';
    const body = JSON.stringify({
      model,
      encoding_format: 'float',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:${mime};base64,${readFileSync(image).toString('base64')}` } }, { type: 'text', text: instruction }] }],
    });
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) }, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new RetryableError(`${(error as Error).name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (error as Error).message}`);
    }
    if (res.status === 408 || res.status === 429 || res.status >= 500) throw new RetryableError(`HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    if (!res.ok) throw new VlferError(`Teacher server ${url} answered HTTP ${res.status} for ${image}: ${(await res.text()).slice(0, 500)}`);
    const json = (await res.json()) as { data?: { embedding?: number[] }[] };
    const e = json.data?.[0]?.embedding;
    if (!Array.isArray(e) || e.length === 0) throw new VlferError(`Teacher server ${url} returned no data[0].embedding for ${image}`);
    return Float32Array.from(e);
  }

  async function withRetry(image: string, instruction: string): Promise<Float32Array> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await once(image, instruction);
      } catch (error) {
        if (!(error instanceof RetryableError)) throw error;
        if (attempt >= maxRetries) throw new VlferError(`Teacher request for ${image} to ${url} failed after ${maxRetries + 1} attempts: ${error.message}`, { cause: error });
        await new Promise((r) => setTimeout(r, backoffMs * 2 ** attempt));
      }
    }
  }

  return {
    id: `http:${model}@${baseUrl}`,
    ...(options.dim !== undefined ? { dim: options.dim } : {}),
    async embed(images, instruction) {
      const out: Float32Array[] = new Array(images.length);
      let next = 0;
      const worker = async () => {
        while (next < images.length) {
          const i = next++;
          out[i] = await withRetry(images[i]!, instruction);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, images.length) }, worker));
      return out;
    },
  };
}
