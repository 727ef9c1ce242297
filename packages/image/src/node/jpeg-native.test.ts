import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { photoLikeJpeg } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { decodeImage, pillowDraftScale } from './decode.js';
import { decodeJpegNative, nativeJpeg, SELF_TEST_JPEG, SELF_TEST_SHA256 } from './jpeg-native.js';

const dir = join(import.meta.dirname, '..', '..', 'test-data', 'decoding');
const drafts = JSON.parse(readFileSync(join(dir, 'pillow-draft.json'), 'utf8')) as Record<
  string,
  Record<string, { target: [number, number]; width: number; height: number; sha256: string }>
>;
const rgbSha = (d: { data: Uint8Array; channels: number }) =>
  createHash('sha256')
    .update(d.channels === 3 ? d.data : Uint8Array.from(Array.from(d.data).flatMap((v) => [v, v, v])))
    .digest('hex');

describe('native libjpeg-turbo (koffi + libturbojpeg)', () => {
  it('is available in this install (the optional dependencies @julusian/jpeg-turbo and koffi) and passed its self-test', () => {
    const s = nativeJpeg();
    expect(s.available, `nativeJpeg(): ${s.reason}`).toBe(true);
    expect(s.library).toMatch(/turbojpeg/);
    const img = decodeJpegNative(Buffer.from(SELF_TEST_JPEG, 'base64'))!;
    expect([img.width, img.height, img.channels]).toEqual([36, 20, 3]);
    expect(createHash('sha256').update(img.data).digest('hex')).toBe(SELF_TEST_SHA256[1]);
    const drafted = decodeJpegNative(Buffer.from(SELF_TEST_JPEG, 'base64'), 2)!;
    expect([drafted.width, drafted.height]).toEqual([18, 10]);
    expect(createHash('sha256').update(drafted.data).digest('hex')).toBe(SELF_TEST_SHA256[2]);
  });

  it("draft: Pillow 9.4's drafted bytes at scales 2, 4 and 8 for every JPEG coding variant", async () => {
    const files = Object.keys(drafts);
    expect(files.length).toBe(12);
    for (const f of files)
      for (const [scale, ref] of Object.entries(drafts[f]!)) {
        const [tw, th] = ref.target;
        expect(pillowDraftScale(21, 14, { width: tw, height: th }), `${f} target`).toBe(Number(scale));
        const d = await decodeImage(join(dir, f), { jpegDecoder: 'native', draft: { width: tw, height: th } });
        if (f === 'jpeg-4x2.jpg') {
          // TurboJPEG refuses luma sampling 4×2 ("could not determine subsampling"): libvips decodes it, drafted
          // only at 4 and 8 and not as Pillow (DecodeOptions.draft)
          expect(decodeJpegNative(readFileSync(join(dir, f)))).toBeUndefined();
          expect([d.width, d.height], f).toEqual(scale === '2' ? [21, 14] : [ref.width, ref.height]);
          continue;
        }
        expect([d.width, d.height], `${f} at 1/${scale}`).toEqual([ref.width, ref.height]);
        expect(rgbSha(d), `${f} at 1/${scale}`).toBe(ref.sha256);
        // 'auto' takes the native decoder here, so its draft is Pillow's too
        expect(rgbSha(await decodeImage(join(dir, f), { draft: { width: tw, height: th } })), f).toBe(ref.sha256);
      }
  });

  it("output: the pixels written into the caller's buffer are the fresh decode's; a buffer too short is refused", async () => {
    const jpeg = readFileSync(join(dir, 'jpeg-420.jpg'));
    const fresh = decodeJpegNative(jpeg)!;
    const buffer = new Uint8Array(fresh.data.length + 100).fill(7);
    const asked: number[] = [];
    const into = decodeJpegNative(jpeg, 1, (n) => (asked.push(n), buffer))!;
    expect(asked).toEqual([fresh.data.length]);
    expect(into.data.buffer).toBe(buffer.buffer);
    expect(Buffer.from(into.data).equals(Buffer.from(fresh.data))).toBe(true);
    expect(buffer[fresh.data.length]).toBe(7); // nothing written past the image
    expect(() => decodeJpegNative(jpeg, 1, (n) => new Uint8Array(n - 1))).toThrow(
      /output.*at least \d+ bytes, got \d+ bytes/,
    );
    await expect(decodeImage(jpeg, { output: 'no' as never })).rejects.toThrow(/options\.output.*expected a function/);
  });
  it('a 640×480 photo drafts by 2 (320×240) and a 1920×1080 one by 4 (480×270), at the sizes Pillow gives', async () => {
    const draft = { width: 224, height: 224 };
    for (const [w, h, s] of [
      [640, 480, 2],
      [1920, 1080, 4],
    ] as const) {
      const d = await decodeImage(await photoLikeJpeg(w, h), { draft });
      expect([d.width, d.height, d.channels]).toEqual([w / s, Math.ceil(h / s), 3]);
    }
  });

  it('leaves to libvips what it cannot decode as Pillow would: truncated data, and a scale TurboJPEG would not pick', async () => {
    const jpeg = Buffer.from(readFileSync(join(dir, 'jpeg-420.jpg')));
    expect(decodeJpegNative(jpeg.subarray(0, jpeg.length - 200))).toBeUndefined();
    // the failed decode left libjpeg mid-decode; the next one gets a fresh handle and decodes
    expect(decodeJpegNative(jpeg)?.width).toBe(21);
    expect(decodeJpegNative(Buffer.from('not a jpeg'))).toBeUndefined();
    expect(decodeJpegNative(jpeg)?.width).toBe(21);
    // a 5×5 JPEG at 1/4 would be 2×2, which TurboJPEG reaches with 3/8 first: not Pillow's draft
    const tiny = await photoLikeJpeg(5, 5);
    expect(decodeJpegNative(tiny, 4)).toBeUndefined();
    // 3×3 at 1/2 would be 2×2, which TurboJPEG reaches with 5/8 first: 3×3 stays 3×3 (DecodeOptions.draft)
    const three = await photoLikeJpeg(3, 3);
    expect(decodeJpegNative(three, 2)).toBeUndefined();
    expect((await decodeImage(three, { draft: { width: 1, height: 1 } })).width).toBe(3);
    // only libjpeg's scalings that Pillow's draft uses: another would decode at one size and claim another
    for (const bad of [3, 0, 1.5, Number.NaN])
      expect(() => decodeJpegNative(jpeg, bad as never)).toThrow(/scale.*expected 1, 2, 4 or 8/);
    expect(decodeJpegNative(tiny, 1)?.width).toBe(5);
  });

  it("without a library that passes, 'auto' decodes the same bytes and 'native' is an error naming why (fresh process)", () => {
    const script = `
      import { decodeImage, nativeJpeg } from '@vlfer/image/node';
      const s = nativeJpeg();
      const auto = await decodeImage(${JSON.stringify(join(dir, 'jpeg-420.jpg'))});
      let error = '';
      try { await decodeImage(${JSON.stringify(join(dir, 'jpeg-420.jpg'))}, { jpegDecoder: 'native' }); } catch (e) { error = e.message; }
      console.log(JSON.stringify({ s, bytes: Array.from(auto.data.subarray(0, 12)), error }));`;
    const r = spawnSync(
      process.execPath,
      ['--conditions=@vlfer/source', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        env: { ...process.env, VLFER_TURBOJPEG: join(dir, 'jpeg-420.jpg') },
        encoding: 'utf8',
        cwd: join(import.meta.dirname, '..', '..'),
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      s: { available: boolean; reason: string };
      bytes: number[];
      error: string;
    };
    expect(out.s.available).toBe(false);
    expect(out.s.reason).toContain('jpeg-420.jpg');
    const exact = JSON.parse(readFileSync(join(dir, 'pillow-rgb.json'), 'utf8'))['jpeg-420.jpg'].rgb as number[];
    expect(out.bytes).toEqual(exact.slice(0, 12));
    expect(out.error).toMatch(/'native' needs libturbojpeg.*jpeg-420\.jpg.*VLFER_TURBOJPEG/);
  });
});
