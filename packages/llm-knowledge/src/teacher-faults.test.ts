import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError } from '@vlfer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getInstruction } from './index.js';
import { computeTargets, httpTeacher, importedTeacher, TEACHER_PROBE_FILE } from './node/index.js';
import { MAX_BACKOFF_MS, retryAfterMs, retryDelayMs, RetryableError, withRetries } from './node/http-teacher.js';

const dir = mkdtempSync(join(tmpdir(), 'vlfer-teacher-faults-'));
const image = (name: string) => {
  const p = join(dir, name);
  writeFileSync(p, name);
  return p;
};

/**
 * A loopback teacher server for a describe block: `answer` gets the name of each request's image (the test images
 * hold their own names) and the request with its reply; `at.base` is its URL once the block's tests run.
 */
function loopbackTeacher(answer: (which: string, req: IncomingMessage, res: ServerResponse) => void) {
  const at = { base: '' };
  let server: Server;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const url = JSON.parse(body).messages[0].content[0].image_url.url as string;
        answer(Buffer.from(url.split(',')[1]!, 'base64').toString(), req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    at.base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return at;
}

describe('teacher replies that are not usable targets', () => {
  const hits = new Map<string, number>();
  const at = loopbackTeacher((which, _req, res) => {
    hits.set(which, (hits.get(which) ?? 0) + 1);
    const send = (status: number, text: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(text);
    };
    if (which === 'nan.jpg') return send(200, '{"data": [{"embedding": [NaN, 1]}]}');
    if (which === 'cut.jpg') return send(200, '{"data": [{"embedding": [0.1, 0.');
    if (which === 'html.jpg') return send(200, '<html><body>Gateway</body></html>', 'text/html');
    if (which === 'zero.jpg') return send(200, JSON.stringify({ data: [{ embedding: [0, 0, 0, 0] }] }));
    if (which === 'short.jpg') return send(200, JSON.stringify({ data: [{ embedding: [1, 2] }] }));
    if (which === 'declared-huge.jpg') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 ** 31) });
      return res.write('{"data": [');
    }
    if (which === 'endless.jpg') {
      // chunked, never ending: 1 MiB at a time while the client reads
      res.writeHead(200, { 'content-type': 'application/json' });
      const mib = Buffer.alloc(2 ** 20, 0x20);
      const more = () => {
        while (!res.destroyed && res.write(mib));
        if (!res.destroyed) res.once('drain', more);
      };
      return more();
    }
    if (which === 'routed.jpg')
      return send(200, JSON.stringify({ model: 'other-vlm', data: [{ embedding: [1, 2, 3, 4] }] }));
    if (which === 'null-model.jpg')
      return send(200, JSON.stringify({ model: null, data: [{ embedding: [1, 2, 3, 4] }] }));
    if (which === 'echo.jpg') return send(200, JSON.stringify({ model: 'm', data: [{ embedding: [1, 2, 3, 4] }] }));
    if (which === 'slow.jpg')
      return setTimeout(() => send(200, JSON.stringify({ data: [{ embedding: [1, 2, 3, 4] }] })), 5000);
    send(200, JSON.stringify({ data: [{ embedding: [1, 2, 3, 4] }] }));
  });

  it('a reply that is not JSON (NaN literal, cut body, HTML with 200) is retried, then named with the image and the URL', async () => {
    const teacher = httpTeacher({ baseUrl: at.base, model: 'm', maxRetries: 2, backoffMs: 1 });
    for (const [name, why] of [
      ['nan.jpg', /not JSON/],
      ['cut.jpg', /not JSON/],
      ['html.jpg', /not JSON.*<html>/],
    ] as const) {
      const p = image(name);
      const err = await teacher.embed([p], 'x').then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(
        new RegExp(
          `Teacher request for .*${name.replace('.', '\\.')} to ${at.base.replaceAll('/', '\\/')}\\/v1\\/embeddings failed after 3 attempts`,
        ),
      );
      expect(err?.message).toMatch(why);
      expect(hits.get(name)).toBe(3);
    }
  });
  it('a reply from another model than the one asked for (its `model` field) is refused at once, naming both', async () => {
    const teacher = httpTeacher({ baseUrl: at.base, model: 'm', maxRetries: 3, backoffMs: 1 });
    await expect(teacher.embed([image('routed.jpg')], 'x')).rejects.toThrow(
      /answered for .*routed\.jpg with model "other-vlm", not "m" \(the model asked for\): its embedding is another model's.*--teacher-reply-model/,
    );
    expect(hits.get('routed.jpg')).toBe(1);
    // the model asked for, or no model field (or null): taken
    const taken = await teacher.embed([image('echo.jpg'), image('ok.jpg'), image('null-model.jpg')], 'x');
    expect(taken.map((e) => e.length)).toEqual([4, 4, 4]);
    // a server that names the model otherwise: replyModel says how, and then the echo of 'm' is another model
    const aliased = httpTeacher({ baseUrl: at.base, model: 'm', replyModel: 'other-vlm', maxRetries: 0 });
    expect((await aliased.embed([image('routed.jpg')], 'x'))[0]!.length).toBe(4);
    expect(aliased.id).toBe(teacher.id);
    await expect(aliased.embed([image('echo.jpg')], 'x')).rejects.toThrow(
      /with model "m", not "other-vlm" \(replyModel\)/,
    );
    // a router over deployments that each report their own name: every name listed is taken
    const routed = httpTeacher({ baseUrl: at.base, model: 'm', replyModel: ['m', 'other-vlm'], maxRetries: 0 });
    expect((await routed.embed([image('routed.jpg'), image('echo.jpg')], 'x')).length).toBe(2);
    await expect(
      httpTeacher({ baseUrl: at.base, model: 'x', replyModel: ['a', 'b'], maxRetries: 0 }).embed(
        [image('echo.jpg')],
        'x',
      ),
    ).rejects.toThrow(/with model "m", not "a" or "b" \(replyModel\)/);
    for (const bad of [' ', [], ['a', '']])
      expect(() => httpTeacher({ baseUrl: at.base, model: 'm', replyModel: bad })).toThrow(/'replyModel'/);
    expect(() => httpTeacher({ baseUrl: at.base, model: 'm', replyModel: '' })).toThrow(
      /Argument 'replyModel' passed to 'httpTeacher'.*must be a non-empty model name \(or a list of them\), got ""/,
    );
  });
  it('a reply past MAX_REPLY_BYTES (declared, or a stream that does not end) fails at once, not retried', async () => {
    const teacher = httpTeacher({ baseUrl: at.base, model: 'm', maxRetries: 3, backoffMs: 1 });
    await expect(teacher.embed([image('declared-huge.jpg')], 'x')).rejects.toThrow(
      /sent a reply of 2147483648 bytes \(Content-Length\) for .*declared-huge\.jpg, more than the 64 MiB vlfer reads/,
    );
    const rss = process.memoryUsage().rss;
    await expect(teacher.embed([image('endless.jpg')], 'x')).rejects.toThrow(
      /sent a reply of over 67108864 bytes for .*endless\.jpg/,
    );
    expect(process.memoryUsage().rss - rss).toBeLessThan(512 * 2 ** 20);
    expect([hits.get('declared-huge.jpg'), hits.get('endless.jpg')]).toEqual([1, 1]);
  });
  it('an all-zero or wrong-length target is refused before it is cached, naming the image and the teacher', async () => {
    const cacheDir = join(dir, 'cache');
    const teacher = httpTeacher({ baseUrl: at.base, model: 'm', maxRetries: 0 });
    await expect(
      computeTargets({ teacher, images: [image('ok.jpg'), image('zero.jpg')], cacheDir, batchSize: 1 }),
    ).rejects.toThrow(/v1\/embeddings \(field '.*zero\.jpg'\): teacher target has norm 0/);
    await expect(computeTargets({ teacher, images: [image('short.jpg')], cacheDir, expectDim: 4 })).rejects.toThrow(
      /short\.jpg'\): teacher target has 2 values, expected 4/,
    );
    // only the good target reached the cache
    const ns = readdirSync(cacheDir).find((d) => !d.endsWith('.json'))!;
    const entries = readdirSync(join(cacheDir, ns)).filter((f) => f !== 'namespace.json' && f !== TEACHER_PROBE_FILE);
    expect(entries.length).toBe(1);
  });
  it('a refused connection says so; a URL without a scheme fails at once; an abort stops a slow request promptly', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    await expect(
      httpTeacher({ baseUrl: `http://127.0.0.1:${port}`, model: 'm', maxRetries: 0 }).embed([image('a.jpg')], 'x'),
    ).rejects.toThrow(/failed after 1 attempt: ECONNREFUSED/);
    expect(() => httpTeacher({ baseUrl: '127.0.0.1:8000', model: 'm' })).toThrow(
      /'127\.0\.0\.1:8000' is not an http\(s\) URL; give the scheme/,
    );
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const t0 = performance.now();
    await expect(
      computeTargets({
        teacher: httpTeacher({ baseUrl: at.base, model: 'm' }),
        images: [image('slow.jpg')],
        signal: controller.signal,
      }),
    ).rejects.toThrow(AbortedError);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(getInstruction('exp-clip')).toMatch(/facial action describer/);
  });
  it('imported targets that are null, not numbers, or all zero are named by file and row', () => {
    const bad = (lines: string[]) => {
      const p = join(dir, `t${lines.length}${Math.random()}.jsonl`);
      writeFileSync(p, lines.join('\n'));
      return p;
    };
    expect(() => importedTeacher({ file: bad(['{"path": "a.jpg", "embedding": [1, null, 2]}']) })).toThrow(
      /:1 \(field 'embedding'\): expected an array of numbers/,
    );
    expect(() =>
      importedTeacher({
        file: bad(['{"path": "a.jpg", "embedding": [1, 2]}', '{"path": "b.jpg", "embedding": [0, 0]}']),
      }),
    ).toThrow(/\.jsonl:2: the teacher target of 'b\.jpg' has norm 0/);
    expect(() =>
      importedTeacher({
        file: bad(['{"path": "a.jpg", "embedding": [1, 2]}', '{"path": "b.jpg", "embedding": [1, 2, 3]}']),
      }),
    ).toThrow(/\.jsonl:2: the teacher target of 'b\.jpg' has 3 values, expected 2/);
    // a finite value float32 cannot hold is named as the file holds it, not as the Infinity it would become
    expect(() => importedTeacher({ file: bad(['{"path": "a.jpg", "embedding": [1e39, 2]}']) })).toThrow(
      /\.jsonl:1: the teacher target of 'a\.jpg' holds 1e\+39 at index 0, beyond float32's range/,
    );
    // the line is the file's (blank lines between rows); float32's largest value, as numpy prints it, is one
    const spaced = bad([
      '{"path": "a.jpg", "embedding": [3.4028235e38, 2]}',
      '',
      '',
      '{"path": "b.jpg", "embedding": [0, 0]}',
    ]);
    expect(() => importedTeacher({ file: spaced })).toThrow(/\.jsonl:4: the teacher target of 'b\.jpg' has norm 0/);
    const f64 = join(dir, `t${Math.random()}.npy`);
    const h = Buffer.from(
      `{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }`.padEnd(118, ' ') + '\n',
      'latin1',
    );
    const values = Buffer.from(Float64Array.of(1, 2, 3, -4e38).buffer);
    writeFileSync(f64, Buffer.concat([Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, h.length, 0]), h, values]));
    writeFileSync(`${f64}.keys`, 'a.jpg\nb.jpg\n');
    expect(() => importedTeacher({ file: f64, keys: `${f64}.keys` })).toThrow(
      /\.npy: row 2, index 1 holds -4e\+38, beyond float32's range/,
    );
  });
  it("a .npy's keys: a repeated path names the keys file, relative paths are taken from root", async () => {
    const npy = (rows: number[][]) => {
      const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows.length}, ${rows[0]!.length}), }`;
      const h = Buffer.from(header.padEnd(118, ' ') + '\n', 'latin1');
      const p = join(dir, `t${Math.random()}.npy`);
      const data = Buffer.from(Float32Array.from(rows.flat()).buffer);
      writeFileSync(p, Buffer.concat([Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, h.length, 0]), h, data]));
      return p;
    };
    const file = npy([
      [1, 2],
      [3, 4],
    ]);
    const keys = join(dir, `k${Math.random()}.txt`);
    writeFileSync(keys, 'Anger/0001.png\nAnger/0001.png\n');
    expect(() => importedTeacher({ file, keys })).toThrow(
      new RegExp(`${keys.replace(/[.]/g, '\\.')}:2: 'Anger/0001\\.png' has a target already \\(listed twice\\)`),
    );
    // the line named is the file's, blank lines and a byte-order mark counted as they are
    writeFileSync(keys, '\ufeffAnger/0001.png\n\n\nAnger/0001.png\n');
    expect(() => importedTeacher({ file, keys })).toThrow(
      new RegExp(`${keys.replace(/[.]/g, '\\.')}:4: 'Anger/0001\\.png' has a target already \\(listed twice\\)`),
    );
    writeFileSync(keys, 'Anger/0001.png\nHappy/0001.png\n');
    const t = importedTeacher({ file, keys, root: '/data/caer/test' });
    expect([...(await t.embed(['/data/caer/test/Happy/0001.png'], 'x'))[0]!]).toEqual([3, 4]);
    await expect(t.embed(['/elsewhere/Happy/0001.png'], 'x')).rejects.toThrow(
      /no target for image '\/elsewhere\/Happy\/0001\.png' \(looked up by absolute path, relative paths of .*k.*\.txt taken from \/data\/caer\/test, and by unique file name among keys that are bare names or absolute paths, a key that is a file here holding the image's bytes\)/,
    );
    // which folder the keys are relative to decides the rows: another root is another teacher (cache key)
    expect(importedTeacher({ file, keys, root: '/data/other' }).id).not.toBe(t.id);
  });
});

describe('a teacher server that asks to wait, redirects, or fails one image among many', () => {
  const seen: { image: string; at: number }[] = [];
  const at = loopbackTeacher((which, req, res) => {
    seen.push({ image: which, at: performance.now() });
    const ok = () => res.end(JSON.stringify({ data: [{ embedding: [1, 2, 3, 4] }] }));
    const tries = seen.filter((s) => s.image === which).length;
    if (which === 'busy.jpg' && tries === 1) {
      res.writeHead(429, { 'retry-after': '1' });
      return res.end('slow down');
    }
    if (which === 'later.jpg') {
      res.writeHead(503, { 'retry-after': '3600' });
      return res.end('maintenance');
    }
    if (which === 'moved.jpg') {
      res.writeHead(301, { location: 'http://127.0.0.1:1/v1/embeddings' });
      return res.end();
    }
    if (which === 'echo.jpg') {
      res.writeHead(401);
      return res.end(`{"error": "you sent ${String(req.headers.authorization)}"}`);
    }
    if (which === 'relative.jpg') {
      res.writeHead(307, { location: '/v2/embeddings' });
      return res.end();
    }
    if (which === 'bad.jpg') {
      res.writeHead(400);
      return res.end('{"error":"image too small"}');
    }
    if (which.startsWith('hang')) return; // never answers
    ok();
  });

  it('Retry-After is waited (it was 0.5 s for 5 s asked); one longer than vlfer waits fails now, saying so', async () => {
    const retries: string[] = [];
    const teacher = httpTeacher({ baseUrl: at.base, model: 'm', backoffMs: 10, onRetry: (m) => retries.push(m) });
    await teacher.embed([image('busy.jpg')], 'x');
    const [first, second] = seen.filter((s) => s.image === 'busy.jpg');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(990);
    expect(retries).toEqual([expect.stringMatching(/busy\.jpg: HTTP 429 slow down; retry 1 of 3 in 1\.0 s$/)]);
    await expect(teacher.embed([image('later.jpg')], 'x')).rejects.toThrow(
      /later\.jpg .*: the server asks to retry after 3600 s \(Retry-After\), longer than vlfer waits \(300 s\); rerun later/,
    );
    expect(retryDelayMs(500, 20)).toBe(MAX_BACKOFF_MS); // the doubling stops (2^22 · 500 ms overflowed Node's timer)
    expect(retryAfterMs('120')).toBe(120_000);
    expect(retryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    // Date.parse read these as years (45.5: May 2045): decimal seconds are seconds
    expect([retryAfterMs('45.5'), retryAfterMs('3600.5'), retryAfterMs('60.5')]).toEqual([45_500, 3_600_500, 60_500]);
    expect([retryAfterMs('-5'), retryAfterMs('2030'.concat('-01-01'))]).toEqual([undefined, undefined]);
  });

  it('a redirect is said with where it points, not followed (its answers were cached under this URL)', async () => {
    await expect(httpTeacher({ baseUrl: at.base, model: 'm' }).embed([image('moved.jpg')], 'x')).rejects.toThrow(
      `Teacher server ${at.base}/v1/embeddings answered HTTP 301, a redirect to http://127.0.0.1:1/v1/embeddings, for ${join(dir, 'moved.jpg')}`,
    );
  });

  it('a token a server echoes is not printed; a relative redirect is said as the URL it resolves to', async () => {
    const token = 's3cr3t/+=!x';
    const teacher = httpTeacher({ baseUrl: at.base, model: 'm', apiKey: token });
    const error = await teacher.embed([image('echo.jpg')], 'x').then(
      () => new Error('it resolved'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(/answered HTTP 401 for .*echo\.jpg: \{"error": "you sent Bearer \*\*\*"\}/);
    await expect(teacher.embed([image('relative.jpg')], 'x')).rejects.toThrow(
      `answered HTTP 307, a redirect to ${at.base}/v2/embeddings, for`,
    );
  });

  it('an HTTP 400 for one image stops the requests in flight (they went on through all their retries first)', async () => {
    const teacher = httpTeacher({ baseUrl: at.base, model: 'm', timeoutMs: 2000, maxRetries: 3, concurrency: 4 });
    const t0 = performance.now();
    const images = ['hang1.jpg', 'hang2.jpg', 'bad.jpg', 'hang3.jpg', 'hang4.jpg', 'hang5.jpg'].map(image);
    await expect(teacher.embed(images, 'x')).rejects.toThrow(
      /answered HTTP 400 for .*bad\.jpg: \{"error":"image too small"\}/,
    );
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(seen.filter((s) => s.image === 'hang5.jpg')).toEqual([]);
  });

  it('credentials in the URL are refused without being shown; the id is the same with or without a trailing slash', () => {
    const thrown = (() => {
      try {
        httpTeacher({ baseUrl: 'http://user:sk-SECRET@127.0.0.1:8765', model: 'm' });
      } catch (error) {
        return error as Error;
      }
    })();
    expect(thrown?.message).toMatch(
      /'http:\/\/\*\*\*@127\.0\.0\.1:8765' holds credentials; .* give the token as apiKey/,
    );
    expect(thrown?.message).not.toContain('SECRET');
    // a token holding '/' or '@', and 'http:user:token@host' (which URL parses), are hidden whole
    for (const baseUrl of [
      'http://user:TOK/SECRET@127.0.0.1:8765',
      'http://user:TOK@SECRET@127.0.0.1:8765',
      'http:user:TOKSECRET@127.0.0.1:8765',
      'http:\\\\user:TOKSECRET@127.0.0.1:8765',
    ])
      expect(() => httpTeacher({ baseUrl, model: 'm' })).toThrow(/\*\*\*@127\.0\.0\.1:8765/);
    for (const baseUrl of ['http://user:TOK/SECRET@127.0.0.1:8765', 'http:user:TOKSECRET@127.0.0.1:8765'])
      expect(() => httpTeacher({ baseUrl, model: 'm' })).not.toThrow(/SECRET/);
    expect(() => httpTeacher({ baseUrl: at.base, model: 'm', apiKey: 'tok\nen' })).toThrow(
      /'apiKey' passed to 'httpTeacher': holds a character an HTTP header cannot carry/,
    );
    expect(httpTeacher({ baseUrl: `${at.base}/`, model: 'm' }).id).toBe(
      httpTeacher({ baseUrl: at.base, model: 'm' }).id,
    );
    expect(() => httpTeacher({ baseUrl: at.base, model: 'm', timeoutMs: 3_000_000_000 })).toThrow(
      /'timeoutMs' passed to 'httpTeacher': must be at most 2147483647/,
    );
  });

  it('no abort listener stays on the signal after a retry waited (Node warned of a leak past 10)', async () => {
    const controller = new AbortController();
    const added: number[] = [];
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    let live = 0;
    controller.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added.push(++live);
      return add(...args);
    }) as typeof add;
    controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      live--;
      return remove(...args);
    }) as typeof remove;
    let n = 0;
    const attempt = async () => {
      if (++n <= 5) throw new RetryableError('HTTP 503');
      return 'done';
    };
    const settings = { url: 'u', maxRetries: 5, backoffMs: 1 };
    expect(await withRetries(settings, 'a.jpg', attempt, controller.signal)).toBe('done');
    expect(added.length).toBe(5);
    expect(live).toBe(0);
  });
});
