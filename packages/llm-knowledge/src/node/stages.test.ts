import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import type { Teacher } from '../teacher.js';
import {
  embeddingRequestBody,
  httpTeacherSettings,
  parseEmbeddingReply,
  RetryableError,
  withRetries,
} from './http-teacher.js';
import { addJsonlTargets, readTargetMatrix, TargetTable } from './imported-teacher.js';
import { checkTargetOptions, embedBatch, normalizeTarget, openTargetCache } from './targets.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-llm-stages-'));

describe('HTTP teacher stages', () => {
  it('httpTeacherSettings fills defaults, builds the URL and refuses a URL without scheme', () => {
    expect(httpTeacherSettings({ baseUrl: 'http://h:1//', model: 'm' })).toEqual({
      url: 'http://h:1/v1/embeddings',
      model: 'm',
      replyModels: ['m'],
      concurrency: 8,
      timeoutMs: 60_000,
      maxRetries: 3,
      backoffMs: 500,
    });
    expect(() => httpTeacherSettings({ baseUrl: 'h:1', model: 'm' })).toThrow(/'h:1' is not an http\(s\) URL/);
    expect(() => httpTeacherSettings({ baseUrl: 'http://h', model: 'm', concurrency: 0 })).toThrow(/concurrency/);
  });
  it('embeddingRequestBody sends the image as a data URL, then the instruction', () => {
    const image = join(tmp(), 'a.png');
    writeFileSync(image, 'png!');
    const body = JSON.parse(embeddingRequestBody('m', image, 'describe')) as {
      messages: [{ content: [{ image_url: { url: string } }, { text: string }] }];
    };
    const [img, text] = body.messages[0].content;
    expect(img.image_url.url).toBe(`data:image/png;base64,${Buffer.from('png!').toString('base64')}`);
    expect(text.text).toBe('describe');
  });
  it('parseEmbeddingReply reads data[0].embedding and makes a bad reply retryable', () => {
    expect(Array.from(parseEmbeddingReply('{"data":[{"embedding":[1,2.5]}]}'))).toEqual([1, 2.5]);
    expect(() => parseEmbeddingReply('<html>')).toThrow(RetryableError);
    expect(() => parseEmbeddingReply('{"data":[{"embedding":[]}]}')).toThrow(/no numeric data\[0\]\.embedding/);
    // one input was sent: an entry of another index, or several entries, are not its embedding
    expect(Array.from(parseEmbeddingReply('{"data":[{"index":0,"embedding":[1]}]}'))).toEqual([1]);
    expect(() => parseEmbeddingReply('{"data":[{"index":1,"embedding":[1]},{"index":0,"embedding":[2]}]}')).toThrow(
      /the reply holds 2 entries for the one input sent; expected one, index 0/,
    );
    expect(() => parseEmbeddingReply('{"data":[{"index":5,"embedding":[1]}]}')).toThrow(/one entry with index 5/);
  });
  it('withRetries retries a RetryableError, reports each retry, and names the attempts when all fail', async () => {
    const settings = { url: 'http://h/v1/embeddings', maxRetries: 2, backoffMs: 1 };
    let calls = 0;
    const retries: number[] = [];
    const ok = await withRetries(
      settings,
      'a.jpg',
      async () => (++calls < 3 ? Promise.reject(new RetryableError('HTTP 503')) : 'done'),
      undefined,
      (_m, k) => retries.push(k),
    );
    expect([ok, calls, retries]).toEqual(['done', 3, [1, 2]]);
    await expect(
      withRetries(settings, 'a.jpg', () => Promise.reject(new RetryableError('HTTP 503')), undefined),
    ).rejects.toThrow(/Teacher request for a\.jpg to http:\/\/h\/v1\/embeddings failed after 3 attempts: HTTP 503/);
    await expect(withRetries(settings, 'a.jpg', () => Promise.reject(new Error('fatal')), undefined)).rejects.toThrow(
      /^fatal$/,
    );
  });
});

describe('imported teacher stages', () => {
  it('TargetTable resolves relative keys, refuses a key twice, and looks up by unique file name', () => {
    const t = new TargetTable('t.jsonl', '/data');
    t.add('a/x.jpg', Float32Array.of(1, 0), 1);
    t.add('/elsewhere/y.jpg', Float32Array.of(0, 1), 2);
    expect(t.dim).toBe(2);
    expect(() => t.add('/data/a/x.jpg', Float32Array.of(1, 1), 3)).toThrow(/listed twice/);
    const lookup = t.lookup();
    expect(Array.from(lookup('/data/a/x.jpg'))).toEqual([1, 0]);
    // an absolute key of another machine: matched by its unique file name
    expect(Array.from(lookup('/other/y.jpg'))).toEqual([0, 1]);
    expect(() => lookup('/data/z.jpg')).toThrow(/no target for image '\/data\/z\.jpg'/);
    // keys written on macOS (NFD) for images named in NFC here: said, with the key (it was "no target" alone)
    t.add('Über/ä.jpg'.normalize('NFD'), Float32Array.of(1, 1), 4);
    const key = '/data/Über/ä.jpg'.normalize('NFD');
    expect(() => lookup('/data/Über/ä.jpg'.normalize('NFC'))).toThrow(
      `; the key '${key}' is this path in Unicode NFD (decomposed, as macOS writes names) form: write the keys in the form of the file names`,
    );
  });
  it("one key's row is one image's: an image without a key is not given another's by its file name", () => {
    const t = new TargetTable('t.npy', '/data', 'keys.txt');
    t.add('happy/dup.jpg', Float32Array.of(1, 0), 1);
    t.add('sad/other.jpg', Float32Array.of(0, 1), 2);
    // a key of another folder is not this image's, whether or not its own image is in the run
    expect(() => t.lookup()('/data/sad/dup.jpg')).toThrow(/no target for image '\/data\/sad\/dup\.jpg'/);
    // an absolute key that is a file here is matched by name only by a file of its bytes (the same image moved)
    const dir = tmp();
    for (const [f, bytes] of [
      ['a', 'one'],
      ['b', 'one'],
      ['c', 'two'],
    ] as const) {
      mkdirSync(join(dir, f));
      writeFileSync(join(dir, f, 'x.png'), bytes);
    }
    const here = new TargetTable('t.npy', dir, 'keys.txt');
    here.add(join(dir, 'a/x.png'), Float32Array.of(1, 0), 1);
    expect(Array.from(here.lookup()(join(dir, 'b/x.png')))).toEqual([1, 0]);
    expect(() => here.lookup()(join(dir, 'c/x.png'))).toThrow(/no target for image '.*c\/x\.png'/);
    // keys of another machine, two of this run's images reaching one by file name
    const moved = new TargetTable('t.npy', '/data', 'keys.txt');
    moved.add('/old/train/happy/dup.jpg', Float32Array.of(1, 0), 1);
    for (const order of [
      ['/data/happy/dup.jpg', '/data/sad/dup.jpg'],
      ['/data/sad/dup.jpg', '/data/happy/dup.jpg'],
    ]) {
      const lookup = moved.lookup();
      expect(() => order.forEach((p) => lookup(p))).toThrow(
        /keys\.txt:1: the target of '\/old\/train\/happy\/dup\.jpg' is reached by two images, .*: neither has a key of its own: both were matched by its file name/,
      );
    }
    const exact = new TargetTable('t.npy', '/data', 'keys.txt');
    exact.add('/old/happy/dup.jpg', Float32Array.of(1, 0), 1);
    const byPath = exact.lookup();
    byPath('/old/happy/dup.jpg');
    expect(() => byPath('/data/happy/dup.jpg')).toThrow(
      /'\/data\/happy\/dup\.jpg' has no key of its own and was matched by its file name/,
    );
    // keys written as bare names: two images of one name reach one row
    const bare = new TargetTable('t.npy', '/data', 'keys.txt');
    bare.add('dup.jpg', Float32Array.of(1, 0), 1);
    const lookup = bare.lookup();
    expect(Array.from(lookup('/data/happy/dup.jpg'))).toEqual([1, 0]);
    expect(Array.from(lookup('/data/happy/dup.jpg'))).toEqual([1, 0]); // the same image again
    expect(() => lookup('/data/sad/dup.jpg')).toThrow(
      /reached by two images.*neither has a key of its own: both were matched by its file name/,
    );
    // keys spelt with ./ or // are one image's path
    const spelt = new TargetTable('t.npy', '/data', 'keys.txt');
    spelt.add('/data/./happy/x.jpg', Float32Array.of(1, 0), 1);
    expect(() => spelt.add('happy/x.jpg', Float32Array.of(0, 1), 2)).toThrow(/keys\.txt:2.*listed twice/);
    spelt.add('/data//sad/y.jpg', Float32Array.of(0, 1), 3);
    expect(Array.from(spelt.lookup()('/data/sad/y.jpg'))).toEqual([0, 1]);
  });
  it('says what a failed lookup may be: Windows separators in the keys', () => {
    const t = new TargetTable('t.npy', '/data', 'keys.txt');
    t.add('happy\\x.jpg', Float32Array.of(1, 0), 1);
    expect(() => t.lookup()('/data/happy/x.jpg')).toThrow(/some keys hold '\\', which is no path separator/);
  });
  it('addJsonlTargets adds rows in order and names the line of a bad one', () => {
    const dir = tmp();
    const file = join(dir, 't.jsonl');
    writeFileSync(file, '{"path":"a.jpg","embedding":[1,2]}\n{"path":"b.jpg","embedding":"x"}\n');
    const table = new TargetTable(file, dir);
    expect(() => addJsonlTargets(file, table)).toThrow(/t\.jsonl.*2.*embedding/);
    expect([...table.byPath.keys()]).toEqual([join(dir, 'a.jpg')]);
    // a byte-order mark before the first line is no JSON error
    writeFileSync(file, '\ufeff{"path":"a.jpg","embedding":[1,2]}\n');
    const bom = new TargetTable(file, dir);
    addJsonlTargets(file, bom);
    expect([...bom.byPath.keys()]).toEqual([join(dir, 'a.jpg')]);
  });
  it('readTargetMatrix reads a safetensors matrix with its paths and refuses another extension', () => {
    const bytes = encodeSafetensors(
      { targets: { dims: [2, 1], data: Float32Array.of(3, 4) } },
      { paths: JSON.stringify(['a.jpg', 'b.jpg']) },
    );
    const m = readTargetMatrix(bytes, 't.safetensors', undefined);
    expect([m.dims, Array.from(m.data), m.keys]).toEqual([
      [2, 1],
      [3, 4],
      ['a.jpg', 'b.jpg'],
    ]);
    expect(() => readTargetMatrix(bytes, 't.bin', undefined)).toThrow(/unsupported target file '\.bin'/);
    const misnamed = encodeSafetensors({ embeddings: { dims: [1, 2], data: Float32Array.of(1, 2) } });
    expect(() => readTargetMatrix(misnamed, 't.safetensors', undefined)).toThrow(/the file holds embeddings \[1, 2\]/);
    // keys given beside the file's own paths: used only when they agree
    const dir = tmp();
    writeFileSync(join(dir, 'same.txt'), 'a.jpg\nb.jpg\n');
    writeFileSync(join(dir, 'reversed.txt'), 'b.jpg\na.jpg\n');
    expect(readTargetMatrix(bytes, 't.safetensors', join(dir, 'same.txt')).keys).toEqual(['a.jpg', 'b.jpg']);
    writeFileSync(join(dir, 'utf16.txt'), Buffer.from('\ufeffa.jpg\r\nb.jpg\r\n', 'utf16le'));
    expect(() => readTargetMatrix(bytes, 't.safetensors', join(dir, 'utf16.txt'))).toThrow(
      /utf16\.txt: the keys file is UTF-16 \(it starts with a UTF-16 byte-order mark\); .* save it as UTF-8/,
    );
    // the same images spelt otherwise, or a file list that is none: the keys are used
    writeFileSync(join(dir, 'spelt.txt'), `./a.jpg\n${join(dir, 'b.jpg')}\n`);
    expect(readTargetMatrix(bytes, join(dir, 't.safetensors'), join(dir, 'spelt.txt')).keys).toHaveLength(2);
    const unlisted = encodeSafetensors(
      { targets: { dims: [2, 1], data: Float32Array.of(3, 4) } },
      { paths: 'a.jpg\nb.jpg' },
    );
    expect(readTargetMatrix(unlisted, 't.safetensors', join(dir, 'same.txt')).keys).toEqual(['a.jpg', 'b.jpg']);
    expect(() => readTargetMatrix(bytes, 't.safetensors', join(dir, 'reversed.txt'))).toThrow(
      /reversed\.txt: lists other image paths \(or another order\) than t\.safetensors's __metadata__\.paths/,
    );
  });
});

describe('target computation stages', () => {
  const teacher: Teacher = {
    id: 'fake',
    source: 'fake-server',
    embed: (images) => Promise.resolve(images.map(() => Float32Array.of(3, 4))),
  };
  it('checkTargetOptions defaults the batch size and refuses an empty image list or mismatched keys', () => {
    expect(checkTargetOptions({ teacher, images: ['a'] }).batchSize).toBe(64);
    expect(() => checkTargetOptions({ teacher, images: [] })).toThrow(/images.*is empty/);
    expect(() => checkTargetOptions({ teacher, images: ['a'], imageKeys: [] })).toThrow(/0 keys for 1 images/);
    expect(() => checkTargetOptions({ teacher, images: ['a'], instructionId: 'nope' })).toThrow(/Unknown instruction/);
  });
  it('normalizeTarget scales to unit norm; embedBatch checks the count the teacher returns', async () => {
    expect(Array.from(normalizeTarget(Float32Array.of(3, 4)))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(await embedBatch(teacher, ['a', 'b'], 'x', undefined)).toHaveLength(2);
    const short: Teacher = { ...teacher, embed: () => Promise.resolve([]) };
    await expect(embedBatch(short, ['a'], 'x', undefined)).rejects.toThrow(
      /teacher fake-server returned 0 embeddings for 1 images/,
    );
  });
  it('openTargetCache is keyed by the teacher and the instruction', () => {
    expect(openTargetCache({ teacher }, 'x')).toBeUndefined();
    const dir = tmp();
    const a = openTargetCache({ teacher, cacheDir: dir }, 'one')!;
    a.set('abcdef01', Float32Array.of(1, 0));
    expect(openTargetCache({ teacher, cacheDir: dir }, 'one')!.get('abcdef01', 2)).toEqual(Float32Array.of(1, 0));
    expect(openTargetCache({ teacher, cacheDir: dir }, 'two')!.get('abcdef01', 2)).toBeUndefined();
  });
});
