import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, encodeSafetensors } from '@vlfer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashFile } from '@vlfer/core/node';
import { getInstruction, type Teacher } from './index.js';
import { computeTargets, httpTeacher, importedTeacher, TEACHER_PROBE_FILE } from './node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'vlfer-teacher-'));
const images = ['a.jpg', 'b.jpg', 'c.png'].map((n, i) => {
  const p = join(dir, n);
  writeFileSync(p, `image-${i}`);
  return p;
});
const vec = (i: number, e = 6) => Array.from({ length: e }, (_, k) => Math.sin(i * 7 + k) + (k === i ? 2 : 0));
const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v));

describe('imported targets', () => {
  it('reads JSONL, .npy + keys and safetensors with paths metadata, and normalises', async () => {
    const jsonl = join(dir, 't.jsonl');
    writeFileSync(
      jsonl,
      images.map((p, i) => JSON.stringify({ path: p.split('/').pop(), embedding: vec(i) })).join('\n'),
    );
    const npy = join(dir, 't.npy');
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 6), }";
    const pad = 64 - ((10 + header.length + 1) % 64);
    const h = Buffer.from(`${header}${' '.repeat(pad)}\n`, 'latin1');
    const pre = Buffer.alloc(10);
    pre[0] = 0x93;
    pre.write('NUMPY', 1, 'latin1');
    pre[6] = 1;
    pre[7] = 0;
    pre.writeUInt16LE(h.length, 8);
    writeFileSync(
      npy,
      Buffer.concat([pre, h, Buffer.from(Float32Array.from(images.flatMap((_, i) => vec(i))).buffer)]),
    );
    writeFileSync(join(dir, 'keys.txt'), images.join('\n'));
    const st = join(dir, 't.safetensors');
    writeFileSync(
      st,
      encodeSafetensors(
        { targets: { dims: [3, 6], data: Float32Array.from(images.flatMap((_, i) => vec(i))) } },
        { paths: JSON.stringify(images) },
      ),
    );
    for (const teacher of [
      importedTeacher({ file: jsonl }),
      importedTeacher({ file: npy, keys: join(dir, 'keys.txt') }),
      importedTeacher({ file: st }),
    ]) {
      expect(teacher.dim).toBe(6);
      const t = await computeTargets({ teacher, images });
      expect(t.dims).toEqual([3, 6]);
      for (let i = 0; i < 3; i++) {
        expect(norm(t.data.subarray(i * 6, i * 6 + 6))).toBeCloseTo(1, 6);
        expect(t.data[i * 6 + i]! * norm(vec(i))).toBeCloseTo(vec(i)[i]!, 4);
      }
    }
    await expect(
      computeTargets({ teacher: importedTeacher({ file: jsonl }), images: [join(dir, 'zzz.jpg')] }),
    ).rejects.toThrow(/t\.jsonl: no target for image '.*zzz\.jpg'/);
    await expect(
      computeTargets({ teacher: importedTeacher({ file: jsonl }), images, expectDim: 4096 }),
    ).rejects.toThrow(/t\.jsonl \(field '.*a\.jpg'\): teacher target has 6 values, expected 4096/);
    writeFileSync(join(dir, 'bad.jsonl'), '{"path": "a.jpg", "embedding": "x"}\n');
    expect(() => importedTeacher({ file: join(dir, 'bad.jsonl') })).toThrow(/bad\.jsonl:1 \(field 'embedding'\)/);
  });
  it('imported rows are looked up by path on every run, never served from the content-keyed cache', async () => {
    // two images of one content (FER2013 has 16 such pairs) with different rows: each keeps its own row
    const twins = [join(dir, 'twin-a.jpg'), join(dir, 'twin-b.jpg')];
    for (const p of twins) writeFileSync(p, 'same bytes');
    const file = join(dir, 'twins.jsonl');
    writeFileSync(
      file,
      twins.map((p, i) => JSON.stringify({ path: p.split('/').pop(), embedding: i ? [0, 1] : [1, 0] })).join('\n'),
    );
    const cacheDir = join(dir, 'twin-cache');
    for (let run = 0; run < 2; run++) {
      const t = await computeTargets({ teacher: importedTeacher({ file }), images: twins, cacheDir });
      expect(Array.from(t.data)).toEqual([1, 0, 0, 1]);
    }
  });
  it('caches targets by teacher id + instruction + image content', async () => {
    let calls = 0;
    const teacher: Teacher = {
      id: 'counting',
      source: 'test',
      dim: 6,
      async embed(imgs) {
        calls += imgs.length;
        return imgs.map((_, i) => Float32Array.from(vec(i)));
      },
    };
    const cacheDir = join(dir, 'cache');
    const a = await computeTargets({ teacher, images, cacheDir });
    expect(calls).toBe(3);
    const b = await computeTargets({ teacher, images, cacheDir });
    expect(calls).toBe(3);
    expect(b.data).toEqual(a.data);
    await computeTargets({ teacher, images, cacheDir, instructionId: 'exp-clip-short' });
    expect(calls).toBe(6);
    // a teacher whose dimension is not known beforehand reads the cache too (it was written and never read)
    const { dim: _dim, ...undimensioned } = teacher;
    expect((await computeTargets({ teacher: undimensioned, images, cacheDir })).data).toEqual(a.data);
    expect(calls).toBe(6);
  });
  it('refuses targets cached under its id at another dimension instead of overwriting them', async () => {
    const cacheDir = join(dir, 'cache-dim');
    const teacherOf = (e: number, dim?: number): Teacher & { calls: number } => ({
      id: 'http:m@u',
      source: 'http://u',
      ...(dim !== undefined ? { dim } : {}),
      calls: 0,
      async embed(imgs) {
        this.calls += imgs.length;
        return imgs.map((p) => Float32Array.from(vec(images.indexOf(p), e)));
      },
    });
    await computeTargets({ teacher: teacherOf(6), images: images.slice(0, 2), cacheDir });
    const entries = () =>
      readdirSync(cacheDir, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile() && d.name.endsWith('.f32'))
        .map((d) => readFileSync(join(d.parentPath, d.name)).toString('hex'));
    const before = entries();
    expect(before).toHaveLength(2);
    // another model under the same name, 8-d: the head expects 8, the cache holds 6-d targets under this id
    const other = teacherOf(8, 8);
    await expect(computeTargets({ teacher: other, images, cacheDir, expectDim: 8 })).rejects.toThrow(
      /a\.jpg: the target cache .* holds a 6-d target for this image under teacher id http:m@u \(http:\/\/u\), and the run expects 8-d targets \(the head's output dimension\): the teacher changed under the same id/,
    );
    await expect(computeTargets({ teacher: other, images, cacheDir })).rejects.toThrow(
      /holds a 6-d target for this image .* and the teacher says it answers 8-d targets/,
    );
    expect(other.calls).toBe(0);
    expect(entries()).toEqual(before);
    // the teacher of the cached targets still reads them
    const same = teacherOf(6);
    expect((await computeTargets({ teacher: same, images, cacheDir, expectDim: 6 })).dims).toEqual([3, 6]);
    expect(same.calls).toBe(2); // c.png and a.jpg again (the teacher check)
  });
  it('asks a teacher that has cached targets for one of them again, and refuses one that answers differently now', async () => {
    const cacheDir = join(dir, 'cache-probe');
    const byImage = (scale: number, swap = false) => {
      const asked: string[][] = [];
      const teacher: Teacher = {
        id: 'http:m@u',
        source: 'http://u',
        async embed(imgs) {
          asked.push(imgs.map((p) => p.split('/').pop()!));
          return imgs.map((p) => Float32Array.from(vec(images.indexOf(p) + (swap ? 1 : 0)), (x) => x * scale));
        },
      };
      return { teacher, asked };
    };
    const first = byImage(1);
    await computeTargets({ teacher: first.teacher, images: images.slice(0, 2), cacheDir, batchSize: 2 });
    expect(first.asked).toEqual([['a.jpg', 'b.jpg']]);
    // the same teacher (its answers at another norm: targets are normalised) — one cached image rides along once
    const same = byImage(3);
    const progress: number[] = [];
    const t = await computeTargets({
      teacher: same.teacher,
      images,
      cacheDir,
      batchSize: 1,
      onProgress: (p) => progress.push(p.done),
    });
    expect(same.asked).toEqual([['a.jpg'], ['c.png']]);
    expect(progress).toEqual([2, 3]);
    expect(t.dims).toEqual([3, 6]);
    // a fully cached run makes no call
    const cachedOnly = byImage(1, true);
    await computeTargets({ teacher: cachedOnly.teacher, images, cacheDir });
    expect(cachedOnly.asked).toEqual([]);
    // another model under the same id: refused before anything is cached or returned
    const other = byImage(1, true);
    const more = [...images, join(dir, 'd.jpg')];
    writeFileSync(more[3]!, 'image-3');
    await expect(computeTargets({ teacher: other.teacher, images: more, cacheDir })).rejects.toThrow(
      /a\.jpg: teacher http:\/\/u \(id http:m@u\) answers for this image with a target at cosine 0\.\d+ to the one cached under its id in .*cache-probe/,
    );
    expect(other.asked).toEqual([['d.jpg', 'a.jpg']]);
    await expect(computeTargets({ teacher: first.teacher, images: more, cacheDir })).resolves.toBeDefined();
    // a call with no cached image of its own (a resumed run's next batch, another shard) re-asks the image the
    // cache's probe record names: the first one computed there
    const e = join(dir, 'e.jpg');
    writeFileSync(e, 'image-4');
    const resumed = byImage(1, true);
    await expect(computeTargets({ teacher: resumed.teacher, images: [e], cacheDir })).rejects.toThrow(
      /a\.jpg: teacher http:\/\/u \(id http:m@u\) answers for this image with a target at cosine/,
    );
    expect(resumed.asked).toEqual([['e.jpg', 'a.jpg']]);
    // the calls of one run share a check: the teacher is re-asked once per run, not per call
    const run = byImage(1);
    const teacherCheck = { done: false };
    const f = join(dir, 'f.jpg');
    writeFileSync(f, 'image-5');
    for (const image of [e, f]) await computeTargets({ teacher: run.teacher, images: [image], cacheDir, teacherCheck });
    expect(run.asked).toEqual([['e.jpg', 'a.jpg'], ['f.jpg']]);
    // without a usable probe record (a cache of an older vlfer, a moved dataset) the run's own first cache hit, from
    // a call that was served whole, is re-asked
    const probeFile = join(
      cacheDir,
      readdirSync(cacheDir).find((d) => !d.endsWith('.json'))!,
      TEACHER_PROBE_FILE,
    );
    rmSync(probeFile);
    const g = join(dir, 'g.jpg');
    writeFileSync(g, 'image-6');
    const swapped = byImage(1, true);
    const shared = { done: false };
    await computeTargets({ teacher: swapped.teacher, images: images.slice(0, 2), cacheDir, teacherCheck: shared });
    await expect(
      computeTargets({ teacher: swapped.teacher, images: [g], cacheDir, teacherCheck: shared }),
    ).rejects.toThrow(/a\.jpg: teacher .* answers for this image with a target at cosine/);
    expect(swapped.asked).toEqual([['g.jpg', 'a.jpg']]);
    // a run whose first call has nothing to re-ask (new images first, no usable record) re-asks a later call's cache
    // hit, in a call of its own: one extra request
    rmSync(probeFile, { force: true });
    const fresh = [0, 1].map((i) => {
      const p = join(dir, `new-${i}.jpg`);
      writeFileSync(p, `new image ${i}`);
      return p;
    });
    const later = byImage(1, true);
    const one = { done: false };
    await computeTargets({ teacher: later.teacher, images: fresh, cacheDir, teacherCheck: one });
    await expect(
      computeTargets({ teacher: later.teacher, images: images.slice(0, 2), cacheDir, teacherCheck: one }),
    ).rejects.toThrow(/a\.jpg: teacher .* answers for this image with a target at cosine/);
    expect(later.asked).toEqual([['new-0.jpg', 'new-1.jpg'], ['a.jpg']]);
    // the refused run left the cache as it was: its own targets (new-0, new-1) and its probe record removed, so the
    // original teacher goes on, and the swapped one is refused again
    const namespace = join(
      cacheDir,
      readdirSync(cacheDir).find((d) => !d.endsWith('.json'))!,
    );
    expect(existsSync(join(namespace, TEACHER_PROBE_FILE))).toBe(false);
    const original = byImage(1);
    await computeTargets({ teacher: original.teacher, images: [fresh[0]!, images[0]!], cacheDir });
    expect(original.asked).toEqual([['new-0.jpg', 'a.jpg']]);
    // a hit on a target the run computed itself (an image read again, or its content under another name) is not a
    // check: nothing is re-asked then, and an older cached image is re-asked later (before: the run's own answer
    // agreed, and a swapped teacher passed)
    const third = byImage(1, true);
    const own = { done: false };
    const fresh2 = join(dir, 'new-2.jpg');
    writeFileSync(fresh2, 'new image 2');
    rmSync(join(namespace, TEACHER_PROBE_FILE), { force: true });
    await computeTargets({ teacher: third.teacher, images: [fresh2], cacheDir, teacherCheck: own });
    await computeTargets({ teacher: third.teacher, images: [fresh2], cacheDir, teacherCheck: own });
    expect(own.done).toBe(false);
    // a signal fired before a call that would only re-ask stops it before the teacher is called
    const stop = new AbortController();
    stop.abort();
    await expect(
      computeTargets({
        teacher: third.teacher,
        images: [images[0]!],
        cacheDir,
        teacherCheck: own,
        signal: stop.signal,
      }),
    ).rejects.toThrow(AbortedError);
    expect(third.asked).toEqual([['new-2.jpg']]);
    await expect(
      computeTargets({ teacher: third.teacher, images: [images[0]!], cacheDir, teacherCheck: own }),
    ).rejects.toThrow(/a\.jpg: teacher .* answers for this image with a target at cosine/);
    expect(third.asked).toEqual([['new-2.jpg'], ['a.jpg']]);
    // a probe from the record survives a call that fails before the answer: the next call of the run re-asks it
    const flaky = byImage(1, true);
    let fail = true;
    const failing: Teacher = {
      ...flaky.teacher,
      async embed(imgs, instruction, o) {
        if (fail) {
          fail = false;
          throw new Error('teacher 503');
        }
        return flaky.teacher.embed(imgs, instruction, o);
      },
    };
    writeFileSync(join(namespace, TEACHER_PROBE_FILE), JSON.stringify({ path: images[0], key: hashFile(images[0]!) }));
    const retried = { done: false };
    const fresh3 = join(dir, 'new-3.jpg');
    writeFileSync(fresh3, 'new image 3');
    await expect(
      computeTargets({ teacher: failing, images: [fresh3], cacheDir, teacherCheck: retried }),
    ).rejects.toThrow('teacher 503');
    await expect(
      computeTargets({ teacher: failing, images: [fresh3], cacheDir, teacherCheck: retried }),
    ).rejects.toThrow(/a\.jpg: teacher .* answers for this image with a target at cosine/);
    // a record naming no regular file (a FIFO would block the hashing, /dev/zero never end it) or another's file is
    // not used, and said; one that cannot be written (a folder in its place) is said, the run goes on
    for (const named of [dir, '/dev/zero', join(dir, 'gone.jpg')]) {
      writeFileSync(probeFile, JSON.stringify({ path: named, key: 'x' }));
      const notes: string[] = [];
      const fresh = join(dir, 'h.jpg');
      writeFileSync(fresh, `an image new to the cache: ${named}`);
      await computeTargets({ teacher: run.teacher, images: [fresh], cacheDir, log: (l) => notes.push(l) });
      expect(notes, named).toEqual([
        expect.stringMatching(/teacher-probe\.json names .*, which is no file here: not used/),
      ]);
    }
    rmSync(probeFile);
    mkdirSync(probeFile);
    const notes: string[] = [];
    const k = join(dir, 'k.jpg');
    writeFileSync(k, 'image-7');
    await computeTargets({ teacher: run.teacher, images: [k], cacheDir, log: (l) => notes.push(l) });
    expect(notes).toEqual([
      expect.stringMatching(/teacher-probe\.json cannot be read, .*EISDIR.*: not used/),
      expect.stringMatching(/teacher-probe\.json cannot be written .*: a later run checks/),
    ]);
  });
});

describe('runs sharing a target cache', () => {
  it('two runs that miss the same images at once train on one stored answer each, not a mix', async () => {
    const cacheDir = join(dir, 'shared-cache');
    const images = ['s0.jpg', 's1.jpg', 's2.jpg'].map((f) => {
      writeFileSync(join(dir, f), f);
      return join(dir, f);
    });
    // one served model whose answers differ in their last digits from call to call (a GPU server's batches)
    let arrived = 0;
    let bothAsked!: () => void;
    const barrier = new Promise<void>((r) => (bothAsked = r));
    const teacher = (run: number, delayMs: number) => ({
      id: 'http:t@http://127.0.0.1:1',
      source: 'http://127.0.0.1:1/v1/embeddings',
      async embed(batch: readonly string[]) {
        if (++arrived === 2) bothAsked();
        await barrier; // both runs have missed every image before either stores one
        await new Promise((r) => setTimeout(r, delayMs));
        return batch.map((_, i) => Float32Array.of(1 + i, 2, 3 + run * 1e-4));
      },
    });
    const [a, b] = await Promise.all([
      computeTargets({ teacher: teacher(0, 0), images, cacheDir, batchSize: 8 }),
      computeTargets({ teacher: teacher(1, 50), images, cacheDir, batchSize: 8 }),
    ]);
    expect(Array.from(b.data)).toEqual(Array.from(a.data)); // the first stored answers, which the cache keeps
    const again = await computeTargets({ teacher: teacher(2, 0), images, cacheDir });
    expect(Array.from(again.data)).toEqual(Array.from(a.data));
  });
});

describe('HTTP teacher against a loopback server', () => {
  let server: Server;
  let base = '';
  const seen = new Map<string, number>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const j = JSON.parse(body);
        const url: string = j.messages[0].content[0].image_url.url;
        const text: string = j.messages[0].content[1].text;
        const key = createHash('sha256').update(url).digest('hex');
        const n = (seen.get(key) ?? 0) + 1;
        seen.set(key, n);
        const decoded = Buffer.from(url.split(',')[1]!, 'base64').toString();
        const reply = (status: number, payload: unknown, delay = 20) =>
          setTimeout(() => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(payload));
          }, delay);
        if (req.url !== '/v1/embeddings' || j.model !== 'tiny-vlm' || text !== getInstruction('exp-clip'))
          return reply(400, { error: 'bad request' });
        if (decoded === 'image-0' && n === 1) return reply(503, { error: 'warming up' });
        if (decoded === 'image-1' && n === 1) return reply(200, { data: [{ embedding: [9] }] }, 400); // slower than the timeout
        if (decoded === 'reject') return reply(422, { error: 'unprocessable' });
        const i = Number(decoded.split('-')[1]);
        reply(200, { data: [{ embedding: vec(i), index: 0 }] });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address() as { port: number };
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('retries 5xx and timeouts, keeps order, and bounds concurrency', async () => {
    // concurrency is the client's: requests it has started and not yet finished or abandoned. (Counted on the server,
    // a request the client already timed out stays "in flight" until its slow reply, and a busy machine showed 3.)
    const realFetch = globalThis.fetch;
    let clientInFlight = 0;
    let clientMax = 0;
    globalThis.fetch = async (...args: Parameters<typeof fetch>) => {
      clientMax = Math.max(clientMax, ++clientInFlight);
      try {
        return await realFetch(...args);
      } finally {
        clientInFlight--;
      }
    };
    const teacher = httpTeacher({ baseUrl: base, model: 'tiny-vlm', concurrency: 2, timeoutMs: 200, backoffMs: 10 });
    const t = await computeTargets({ teacher, images, batchSize: 3 }).finally(() => {
      globalThis.fetch = realFetch;
    });
    expect(t.dims).toEqual([3, 6]);
    expect(t.data[1 * 6 + 1]! * norm(vec(1))).toBeCloseTo(vec(1)[1]!, 4);
    expect(clientMax).toBe(2);
    expect([...seen.values()].sort()).toEqual([1, 2, 2]);
  });
  it('fails at once on a 4xx and after maxRetries on a dead server', async () => {
    const reject = join(dir, 'reject.jpg');
    writeFileSync(reject, 'reject');
    await expect(
      httpTeacher({ baseUrl: base, model: 'tiny-vlm' }).embed([reject], getInstruction('exp-clip')),
    ).rejects.toThrow(/HTTP 422.*unprocessable/);
    await expect(
      httpTeacher({ baseUrl: 'http://127.0.0.1:9', model: 'm', maxRetries: 1, backoffMs: 5, timeoutMs: 500 }).embed(
        [images[0]!],
        'x',
      ),
    ).rejects.toThrow(/failed after 2 attempts/);
  });
  it('a teacher that fails part way keeps what it answered, says so, and a rerun asks for the rest', async () => {
    const cacheDir = join(dir, 'cache-partial');
    const reject = join(dir, 'reject.jpg');
    writeFileSync(reject, 'reject');
    // one call for all four (the default batch of 64), one request at a time: three answers, then the failure
    const teacher = httpTeacher({ baseUrl: base, model: 'tiny-vlm', maxRetries: 0, concurrency: 1 });
    const error = await computeTargets({ teacher, images: [...images, reject], cacheDir }).then(
      () => new Error('it resolved'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(
      /HTTP 422.*unprocessable.*; the 3 targets answered before it in this call are cached in .*cache-partial.*: a rerun asks the teacher only for those still missing \(and for one cached image again, to check that it answers as before\)$/,
    );
    expect(error.cause).toBeInstanceOf(Error);
    // the first request failing: nothing came before it, and the note says so
    await expect(computeTargets({ teacher, images: [reject], cacheDir: join(dir, 'cache-none') })).rejects.toThrow(
      /; no answer of this call came before it: a rerun asks for them again$/,
    );
    // and so it does: the three answered before the failure are served from the cache, no call
    const asked: string[] = [];
    const resumed: Teacher = {
      ...teacher,
      embed: (imgs, ...rest) => (asked.push(...imgs), teacher.embed(imgs, ...rest)),
    };
    await expect(computeTargets({ teacher: resumed, images, cacheDir })).resolves.toBeDefined();
    expect(asked).toEqual([]);
    // a teacher that reports answers wrongly is refused, naming it; nothing it reported late reaches the cache
    const reporting = (report: (on: (i: number, v: Float32Array) => void, n: number) => void): Teacher => ({
      id: 'custom:reporting',
      source: 'reporting-teacher',
      async embed(imgs, _instruction, call) {
        const vs = imgs.map((_, i) => Float32Array.of(1, i + 1));
        report(call!.onResult!, imgs.length);
        return vs;
      },
    });
    let fresh = 0;
    for (const [report, said] of [
      [(on: (i: number, v: Float32Array) => void, n: number) => on(n, Float32Array.of(1, 1)), /index 3 of a call of 3/],
      [
        (on: (i: number, v: Float32Array) => void) => (on(0, Float32Array.of(1, 1)), on(0, Float32Array.of(1, 1))),
        /index 0 .* twice/,
      ],
      [
        (on: (i: number, v: Float32Array) => void) => on(0, Float32Array.of(5, 5)),
        /returned another embedding for .*a\.jpg/,
      ],
    ] as const)
      await expect(
        computeTargets({ teacher: reporting(report), images, cacheDir: join(dir, `cache-reporting-${fresh++}`) }),
      ).rejects.toThrow(new RegExp(`teacher reporting-teacher .*${said.source}`));
    let late: ((i: number, v: Float32Array) => void) | undefined;
    const lateTeacher = reporting((on) => (late = on));
    const got = await computeTargets({ teacher: lateTeacher, images, cacheDir: join(dir, 'cache-late') });
    expect(() => late!(0, Float32Array.of(9, 9))).toThrow(/reported an answer \(index 0\) after its call returned/);
    expect((await computeTargets({ teacher: lateTeacher, images, cacheDir: join(dir, 'cache-late') })).data).toEqual(
      got.data,
    );
    // an abort is not a failure of the teacher: unchanged
    const aborted = await computeTargets({ teacher, images: [reject], cacheDir, signal: AbortSignal.abort() }).catch(
      (e: unknown) => e,
    );
    expect(aborted).toBeInstanceOf(AbortedError);
  });
});
