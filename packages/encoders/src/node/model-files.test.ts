import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { env as transformersEnv, Tensor as HfTensor } from '@huggingface/transformers';
import { tensor, VlferError } from '@vlfer/core';
import { fingerprintFiles, hashFile } from '@vlfer/core/node';
import { sharedPath, copyWritable, processThreads } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { clipArchFromConfig, parsePreprocessorConfig } from '../index.js';
import { clipProjectionDim, transformersEncoders } from '../transformers-clip.js';
import { ClipGradientModel } from './clip-gradients.js';
import { missingOnnxModelFiles, modelFileError, onnxFingerprintFiles } from './clip.js';
import { checkClipModelPath, configureModels, loadClip } from './index.js';

// Issue 22 item 11: a damaged or swapped tower file is named with the tower that was expected, instead of
// onnxruntime's `ModelProto does not have a graph` or `Missing the following inputs: input_ids, attention_mask`.
const tinyClipCopy = () => {
  const d = mkdtempSync(join(tmpdir(), 'vlfer-clip-files-'));
  copyWritable(sharedPath('fixtures', 'tiny-clip'), d);
  return d;
};

describe('loading CLIP towers names the model file and the tower expected', () => {
  it('a vision graph copied over the text tower is refused at load, naming the file and both towers', async () => {
    const d = tinyClipCopy();
    copyWritable(join(d, 'onnx', 'vision_model.onnx'), join(d, 'onnx', 'text_model.onnx'));
    const err = await loadClip({ model: d }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VlferError);
    expect((err as Error).message).toBe(
      `${join(d, 'onnx', 'text_model.onnx')}: expected the text tower's graph (inputs input_ids, attention_mask), but this graph takes pixel_values — it is the vision tower's graph; restore onnx/text_model.onnx`,
    );
  });

  it('a text graph copied over the vision tower is refused the same way', async () => {
    const d = tinyClipCopy();
    copyWritable(join(d, 'onnx', 'text_model.onnx'), join(d, 'onnx', 'vision_model.onnx'));
    await expect(loadClip({ model: d })).rejects.toThrow(
      /vision_model\.onnx: expected the vision tower's graph \(inputs pixel_values\), but this graph takes input_ids, attention_mask — it is the text tower's graph/,
    );
  });

  it('an empty or garbage tower file is named as not an ONNX model of that tower', async () => {
    const d = tinyClipCopy();
    writeFileSync(join(d, 'onnx', 'text_model.onnx'), '');
    await expect(loadClip({ model: d })).rejects.toThrow(
      `${join(d, 'onnx', 'text_model.onnx')} is not a valid ONNX model (it has no graph); expected the text tower of a CLIP export`,
    );
    writeFileSync(join(d, 'onnx', 'text_model.onnx'), 'not a model');
    await expect(loadClip({ model: d })).rejects.toThrow(/text_model\.onnx is not a valid ONNX model \(not a protobuf/);
  });

  it('graphs and config.json from different models are refused at load (rows mixed images and were cached)', async () => {
    const edit = (d: string, file: string, f: (j: Record<string, any>) => void) => {
      const j = JSON.parse(readFileSync(join(d, file), 'utf8'));
      f(j);
      writeFileSync(join(d, file), JSON.stringify(j));
    };
    const onnxOnly = () => {
      const d = tinyClipCopy();
      rmSync(join(d, 'model.safetensors')); // the ONNX runtime, whatever the dtype
      return d;
    };
    let d = onnxOnly();
    edit(d, 'config.json', (j) => (j.projection_dim = 32));
    await expect(loadClip({ model: d })).rejects.toThrow(
      `The vision tower of '${d}' gives image_embeds of width 24, but its config.json says projection_dim 32: the graph and config.json come from different models`,
    );
    await expect(loadClip({ model: d, towers: ['text'] })).rejects.toThrow(
      /The text tower of '.*' gives text_embeds of width 24, but its config\.json says projection_dim 32/,
    );
    d = onnxOnly();
    edit(d, 'preprocessor_config.json', (j) => (j.crop_size = { height: 32, width: 32 }));
    await expect(loadClip({ model: d, towers: ['vision'] })).rejects.toThrow(
      /The vision tower of '.*' takes 224-pixel images, but its preprocessor_config\.json crops to 32/,
    );
    d = onnxOnly();
    edit(d, 'config.json', (j) => (j.text_config.max_position_embeddings = 16));
    await expect(loadClip({ model: d })).rejects.toThrow(
      /The text tower of '.*' has 16 positions \(config\.json text_config\.max_position_embeddings\), but vlfer tokenizes prompts to CLIP's 77 tokens/,
    );
  });

  it('a model that fails after its towers loaded (a malformed preprocessor config or weights header) releases them', async () => {
    const d = tinyClipCopy();
    const warm = await loadClip({ model: d });
    await warm.dispose();
    const before = processThreads();
    writeFileSync(join(d, 'preprocessor_config.json'), '{oops');
    for (let i = 0; i < 3; i++)
      // named: it was JSON.parse's bare "Expected property name or '}' in JSON at position 1"
      await expect(loadClip({ model: d })).rejects.toThrow(
        `${join(d, 'preprocessor_config.json')}: not valid JSON (Expected property name`,
      );
    copyWritable(sharedPath('fixtures', 'tiny-clip', 'preprocessor_config.json'), join(d, 'preprocessor_config.json'));
    writeFileSync(join(d, 'model.safetensors'), Buffer.alloc(16, 0xff));
    await expect(loadClip({ model: d })).rejects.toThrow(/model\.safetensors/);
    // the sessions went with each failure (3 · 2 threads stayed before)
    expect(processThreads()).toBeLessThanOrEqual(before);
  });
  it('an encode whose graph declares no output width still refuses rows of another width than config.json', async () => {
    // a graph with a symbolic width passes the load check; its 24-wide rows read as 32-wide would mix images
    const vision = async () => ({ image_embeds: new HfTensor('float32', new Float32Array(2 * 24), [2, 24]) });
    const enc = transformersEncoders({ tokenizer: undefined, text: undefined, vision: vision as never }, 32, 4);
    await expect(enc.encodePixels(tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]))).rejects.toThrow(
      "The CLIP graph gave image_embeds of shape [2, 24], expected [2, 32] (config.json's projection_dim 32): the graph and config.json come from different models",
    );
  });

  it('errors say what the caller can do: thread counts, a dtype without its graphs, a Hub id for the gradient model', async () => {
    const tiny = sharedPath('fixtures', 'tiny-clip');
    for (const n of [0, 1.5, 100_000])
      await expect(loadClip({ model: tiny, intraOpNumThreads: n })).rejects.toThrow(
        /'intraOpNumThreads' passed to 'loadClip': must be (a positive integer|at most)/,
      );
    await expect(loadClip({ model: tiny, dtype: 'fp16' })).rejects.toThrow(
      `${tiny} has no onnx/vision_model_fp16.onnx or onnx/text_model_fp16.onnx (the ONNX graphs of 'fp16'), so it loads its config.json + model.safetensors, whose 'graphs' runtime computes in fp32 or int8; got 'fp16'`,
    );
    await expect(ClipGradientModel.load('Xenova/clip-vit-base-patch32')).rejects.toThrow(
      "ClipGradientModel.load builds its graphs from the weights: it needs a local directory with config.json + model.safetensors, or an OpenAI .pt; 'Xenova/clip-vit-base-patch32' is not a local path (download",
    );
    await expect(ClipGradientModel.load('./no-such-model')).rejects.toThrow(
      /'model' passed to 'ClipGradientModel\.load': the path '\.\/no-such-model'/,
    );
  });

  it("onnxruntime's `system error number 13` becomes `permission denied on <file>`", () => {
    // the tests run as root here, where chmod cannot make a file unreadable; this is the message onnxruntime-node
    // 1.30 gives a non-root user for a file without read permission (seen with `su nobody`, chmod 600)
    const e = modelFileError(
      '/m/onnx/vision_model.onnx',
      'vision',
      new Error('Load model from /m/onnx/vision_model.onnx failed:system error number 13'),
    );
    expect(e?.message).toBe(
      "permission denied on /m/onnx/vision_model.onnx: the vision tower's ONNX file exists but cannot be read by this user (check its permissions)",
    );
    expect(modelFileError('/m/x.onnx', 'text', new Error('out of memory'))).toBeUndefined();
  });
});

describe('checkClipModelPath: a model that is no path and no Hub id is named before any data is read', () => {
  it("refuses what the Hub would not take as an id, and passes well-formed ids (with or without '@<revision>')", () => {
    for (const ok of ['Xenova/clip-vit-base-patch32', 'clip', 'org_1/name.v2', 'openai/clip-vit-base-patch32@main'])
      expect(() => checkClipModelPath(ok), ok).not.toThrow();
    // before: each was taken for a Hub id and failed later, after the data was read, as a download error
    for (const bad of [
      'my model',
      '-org/name',
      'org/name-',
      'org/na--me',
      'org/x..y',
      'org/name.git',
      'é/clip',
      'x'.repeat(97),
    ])
      expect(() => checkClipModelPath(bad, 'evaluateZeroShot'), bad).toThrow(
        `Argument 'model' passed to 'evaluateZeroShot': '${bad}' is neither an existing path (${resolve(bad)}) nor a Hugging Face model id`,
      );
    for (const bad of ['org/name@', '@org/name', 'org/name@a b'])
      expect(() => checkClipModelPath(bad, 'trainHead'), bad).toThrow(
        `Argument 'model' passed to 'trainHead': '${bad}': a Hub id with a revision is <id>@<revision>`,
      );
  });
});

describe('config files: a deeply nested value is described, not stringified', () => {
  const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
  it('preprocessor_config.json and config.json name the field and show a short description', () => {
    expect(() =>
      parsePreprocessorConfig({ size: { shortest_edge: 224 }, crop_size: 224, image_mean: deep }, 'pp.json'),
    ).toThrow(/^pp\.json \(field 'image_mean'\): expected three numbers, got \[\[…\]\]$/);
    const cfg = JSON.parse(readFileSync(sharedPath('fixtures', 'tiny-clip', 'config.json'), 'utf8')) as Record<
      string,
      any
    >;
    cfg.text_config.hidden_size = deep;
    expect(() => clipArchFromConfig(cfg, 'config.json')).toThrow(
      /^config\.json \(field 'text_config\.hidden_size'\): expected a positive integer, got \[\[…\]\]$/,
    );
    cfg.text_config.hidden_size = 'x';
    expect(() => clipArchFromConfig(cfg, 'config.json')).toThrow(/got "x"$/);
  });
});

describe('the ONNX loading stages of loadClip', () => {
  it('missingOnnxModelFiles: only the files of the towers asked for; the tokenizer only with the text tower', () => {
    const d = tinyClipCopy();
    expect(missingOnnxModelFiles(d, new Set(['vision', 'text']), '')).toEqual([]);
    rmSync(join(d, 'tokenizer.json'));
    rmSync(join(d, 'onnx', 'text_model.onnx'));
    expect(missingOnnxModelFiles(d, new Set(['vision', 'text']), '')).toEqual([
      'tokenizer.json',
      'onnx/text_model.onnx',
    ]);
    expect(missingOnnxModelFiles(d, new Set(['vision']), '')).toEqual([]);
    // another dtype's graphs are other files
    expect(missingOnnxModelFiles(d, new Set(['vision']), '_fp16')).toEqual(['onnx/vision_model_fp16.onnx']);
  });

  it('onnxFingerprintFiles: the files present for the towers loaded (tokenizer files always), with absolute paths', () => {
    const d = tinyClipCopy();
    writeFileSync(join(d, 'onnx', 'vision_model.onnx_data'), 'weights');
    const both = onnxFingerprintFiles(d, new Set(['vision', 'text']), '');
    expect(Object.keys(both).sort()).toEqual(
      [
        'config.json',
        'onnx/text_model.onnx',
        'onnx/vision_model.onnx',
        'onnx/vision_model.onnx_data',
        'preprocessor_config.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ].sort(),
    );
    expect(both['config.json']).toBe(join(d, 'config.json'));
    const vision = onnxFingerprintFiles(d, new Set(['vision']), '');
    expect(Object.keys(vision)).not.toContain('onnx/text_model.onnx');
    expect(Object.keys(vision)).toContain('tokenizer.json');
  });

  it('clipProjectionDim: top-level projection_dim, else vision_config.projection_dim; refuses a missing one', () => {
    expect(clipProjectionDim({ projection_dim: 512, vision_config: { projection_dim: 768 } }, 'm')).toBe(512);
    expect(clipProjectionDim({ vision_config: { projection_dim: 768 } }, 'm')).toBe(768);
    expect(() => clipProjectionDim({ projection_dim: 0 }, 'my/model')).toThrow(
      "config.json of 'my/model' has no projection_dim",
    );
    expect(() => clipProjectionDim({}, 'm')).toThrow(VlferError);
  });
});

describe('an ONNX model directory without a tokenizer of its own takes `tokenizer`', () => {
  const withoutTokenizer = () => {
    const d = tinyClipCopy();
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json'])
      rmSync(join(d, f));
    return d;
  };
  const prompts = ['a photo of a happy face', 'a photo of an angry face'];

  it('encodes texts as the same model with its tokenizer in place, and fingerprints the tokenizer used', async () => {
    const d = withoutTokenizer();
    const tokenizer = sharedPath('assets', 'clip-tokenizer');
    const whole = await loadClip({ model: sharedPath('fixtures', 'tiny-clip') });
    const split = await loadClip({ model: d, tokenizer });
    try {
      expect(split.runtime).toBe('onnx');
      expect(split.tokenize(prompts).ids).toEqual(whole.tokenize(prompts).ids);
      expect(Array.from((await split.encodeTexts(prompts)).data)).toEqual(
        Array.from((await whole.encodeTexts(prompts)).data),
      );
      // another tokenizer (one merge fewer) is another model: cached features must not be shared
      const other = mkdtempSync(join(tmpdir(), 'vlfer-tokenizer-'));
      copyWritable(tokenizer, other);
      const json = JSON.parse(readFileSync(join(other, 'tokenizer.json'), 'utf8'));
      json.model.merges.pop();
      writeFileSync(join(other, 'tokenizer.json'), JSON.stringify(json));
      const changed = await loadClip({ model: d, tokenizer: other, towers: ['text'] });
      expect(changed.contentFingerprint()).not.toBe(split.contentFingerprint());
      await changed.dispose();
    } finally {
      await split.dispose();
      await whole.dispose();
    }
  });

  it('without `tokenizer` the missing files are named with the option that supplies them', async () => {
    const d = withoutTokenizer();
    await expect(loadClip({ model: d })).rejects.toThrow(
      `Model directory ${d} lacks tokenizer.json, tokenizer_config.json; expected`,
    );
    await expect(loadClip({ model: d })).rejects.toThrow(
      /; or give a directory with the CLIP tokenizer\.json as tokenizer \(CLI --tokenizer <dir>\)$/,
    );
    // the vision tower alone needs no tokenizer
    const vision = await loadClip({ model: d, towers: ['vision'] });
    await vision.dispose();
  });

  it('a `tokenizer` given as a bare relative name is a directory, not a Hub id; one ignored is said so', async () => {
    const d = withoutTokenizer();
    const here = process.cwd();
    const lines: string[] = [];
    try {
      // a folder of its own: a fixed name in the temporary directory was shared by runs and users
      const cwd = mkdtempSync(join(tmpdir(), 'vlfer-tok-bare-'));
      process.chdir(cwd);
      copyWritable(sharedPath('assets', 'clip-tokenizer'), join(cwd, 'tok-bare'));
      const clip = await loadClip({ model: d, tokenizer: 'tok-bare', towers: ['text'] });
      expect(clip.tokenize(prompts).ids.length).toBe(2 * 77);
      await clip.dispose();
      // a directory with its own tokenizer uses it, and says that the option is not used
      const own = await loadClip({
        model: tinyClipCopy(),
        tokenizer: 'tok-bare',
        towers: ['text'],
        log: (l) => lines.push(l),
      });
      await own.dispose();
      const weights = await loadClip({
        model: sharedPath('fixtures', 'tiny-clip'),
        backend: 'graphs',
        tokenizer: 'tok-bare',
        towers: ['text'],
        log: (l) => lines.push(l),
      });
      await weights.dispose();
    } finally {
      process.chdir(here);
    }
    expect(lines).toEqual([
      expect.stringMatching(
        / holds its own tokenizer \(tokenizer\.json\), which is used; the tokenizer 'tok-bare' is not$/,
      ),
      `${sharedPath('fixtures', 'tiny-clip')} holds its own tokenizer (tokenizer.json), which is used; the tokenizer 'tok-bare' is not`,
    ]);
  });

  it('a `tokenizer` directory without tokenizer.json is named', async () => {
    const d = withoutTokenizer();
    const empty = mkdtempSync(join(tmpdir(), 'vlfer-no-tokenizer-'));
    await expect(loadClip({ model: d, tokenizer: empty })).rejects.toThrow(
      `${join(empty, 'tokenizer.json')}: not found: the CLIP tokenizer is read from here; give a directory with the CLIP tokenizer.json as tokenizer (CLI --tokenizer <dir>)`,
    );
    copyWritable(sharedPath('assets', 'clip-tokenizer', 'tokenizer.json'), join(empty, 'tokenizer.json'));
    await expect(loadClip({ model: d, tokenizer: empty })).rejects.toThrow(
      `${join(empty, 'tokenizer_config.json')}: not found: the CLIP tokenizer needs it beside tokenizer.json`,
    );
  });
});

// A Hub id was fingerprinted as `hub:<id>:<dtype>` wherever the file cache missed its files, so features cached for
// it were reused after the weights published under the id changed; checksums were refused for Hub ids.
describe('a Hub id is fingerprinted and checksummed on the files transformers.js loaded it from', () => {
  const id = 'vlfer-test/tiny-clip';
  const fixture = sharedPath('fixtures', 'tiny-clip');
  /** A Hub on 127.0.0.1 serving the fixture at `/<id>/resolve/<revision>/<file>`, and the files asked of it. */
  const serveHub = async () => {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      const m = /^\/vlfer-test\/tiny-clip\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
      const file = m ? join(fixture, decodeURIComponent(m[2]!)) : '';
      requests.push(m ? `${m[1]}:${m[2]}` : req.url!);
      if (!m || !existsSync(file)) return void res.writeHead(404).end('not found');
      const bytes = readFileSync(file);
      res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return { requests, host: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
  };
  const withHub = async (f: (hub: { cache: string; requests: string[] }) => Promise<void>) => {
    const { requests, host, server } = await serveHub();
    const cache = mkdtempSync(join(tmpdir(), 'vlfer-hub-cache-'));
    const before = configureModels({});
    configureModels({ cacheDir: cache, allowRemoteModels: true, remoteHost: host });
    try {
      await f({ cache, requests });
    } finally {
      configureModels(before);
      transformersEnv.useFSCache = true;
      server.close();
    }
  };
  const files = (...names: string[]) => fingerprintFiles(Object.fromEntries(names.map((n) => [n, join(fixture, n)])));

  it('a fresh download is fingerprinted on the cached files: those of the towers loaded, whatever else the cache holds', async () => {
    await withHub(async ({ cache, requests }) => {
      const vision = await loadClip({ model: id, towers: ['vision'] });
      // a vision-only load fetches no tokenizer, and its fingerprint covers none
      expect(requests.sort()).toEqual([
        'main:config.json',
        'main:onnx/vision_model.onnx',
        'main:preprocessor_config.json',
      ]);
      const visionFiles = files('config.json', 'preprocessor_config.json', 'onnx/vision_model.onnx');
      expect(vision.contentFingerprint()).toBe(visionFiles);
      const both = await loadClip({ model: id });
      const local = await loadClip({ model: fixture });
      expect(both.contentFingerprint()).toBe(local.contentFingerprint());
      expect(vision.contentFingerprint()).toBe(visionFiles); // the tokenizer now in the cache changes nothing
      writeFileSync(join(cache, id, 'preprocessor_config.json'), '{"crop_size": 224}\n');
      expect(vision.contentFingerprint()).not.toBe(visionFiles);
      rmSync(join(cache, id, 'preprocessor_config.json'));
      expect(() => vision.contentFingerprint()).toThrow(
        `'${id}': transformers.js' file cache lacks preprocessor_config.json (looked in ${join(cache, configureModels({}).localModelPath, id)} and ${join(cache, id)}), so the files the model was loaded from cannot be read back to fingerprint or checksum their content; load the model again to fetch them, or download the model into a directory and pass the directory`,
      );
      transformersEnv.useFSCache = false;
      expect(() => vision.contentFingerprint()).toThrow(
        `'${id}': transformers.js keeps no file cache here (env.useFSCache is off or a custom cache replaces it)`,
      );
      await Promise.all([vision.dispose(), both.dispose(), local.dispose()]);
    });
  });

  it('checksums are checked on a fresh download once every file is fetched; a mismatch or a file not loaded refused', async () => {
    const want = hashFile(join(fixture, 'onnx', 'vision_model.onnx'));
    await withHub(async ({ cache }) => {
      const vision = join(cache, id, 'onnx', 'vision_model.onnx');
      const ok = await loadClip({ model: id, towers: ['vision'], checksums: { 'onnx/vision_model.onnx': want } });
      await ok.dispose();
      await expect(
        loadClip({ model: id, towers: ['vision'], checksums: { 'onnx/vision_model.onnx': '00' } }),
      ).rejects.toThrow(`Checksum mismatch for ${vision}: sha256 ${want}, expected 00`);
      await expect(
        loadClip({ model: id, towers: ['vision'], checksums: { 'onnx/text_model.onnx': want } }),
      ).rejects.toThrow(
        `checksums name 'onnx/text_model.onnx', which is not a file '${id}' was loaded from (config.json, preprocessor_config.json, onnx/vision_model.onnx)`,
      );
    });
  });

  it('<id>@<revision> fetches and caches that revision apart from main, and fingerprints its files', async () => {
    await withHub(async ({ cache, requests }) => {
      const hub = await loadClip({ model: `${id}@v1.0`, towers: ['vision'] });
      expect(hub.modelId).toBe(`${id}@v1.0`);
      expect(new Set(requests.map((r) => r.split(':')[0]))).toEqual(new Set(['v1.0']));
      expect(existsSync(join(cache, id, 'v1.0', 'onnx', 'vision_model.onnx'))).toBe(true);
      expect(hub.contentFingerprint()).toBe(files('config.json', 'preprocessor_config.json', 'onnx/vision_model.onnx'));
      await hub.dispose();
      for (const bad of [`${id}@`, `${id}@../../x`, `${id}@/abs`, `@main`, `${id}@a b`])
        await expect(loadClip({ model: bad, towers: ['vision'] }), bad).rejects.toThrow(
          `Argument 'model' passed to 'loadClip': '${bad}': a Hub id with a revision is <id>@<revision>`,
        );
    });
  });
});
