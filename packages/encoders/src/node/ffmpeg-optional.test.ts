import { VlferError } from '@vlfer/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultFfmpegPath, FFMPEG_PACKAGE } from './video.js';

// @ffmpeg-installer/ffmpeg is an optional peer dependency (66 MB, video files only): without it, the error names it
const notFound = (id: string) =>
  Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- /x/video.js`), { code: 'MODULE_NOT_FOUND' });

describe('ffmpeg is optional', () => {
  afterEach(() => vi.unstubAllEnvs());
  it('without the package, the error names the package to add and $VLFER_FFMPEG', () => {
    vi.stubEnv('VLFER_FFMPEG', '');
    let thrown: unknown;
    try {
      defaultFfmpegPath((id) => {
        throw notFound(id);
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(VlferError);
    expect((thrown as Error).message).toBe(
      'Video files are decoded with ffmpeg, and no ffmpeg was found: add the package @ffmpeg-installer/ffmpeg ' +
        '(npm install @ffmpeg-installer/ffmpeg), or set $VLFER_FFMPEG to an ffmpeg binary',
    );
    expect(((thrown as Error).cause as Error).message).toMatch(/Cannot find module '@ffmpeg-installer\/ffmpeg'/);
  });
  it('any other failure (a missing module inside the package, a broken install) is not hidden', () => {
    vi.stubEnv('VLFER_FFMPEG', '');
    expect(() =>
      defaultFfmpegPath(() => {
        throw notFound('@ffmpeg-installer/linux-x64');
      }),
    ).toThrow(/Cannot find module '@ffmpeg-installer\/linux-x64'/);
    expect(() =>
      defaultFfmpegPath(() => {
        throw new SyntaxError('bad package');
      }),
    ).toThrow(SyntaxError);
  });
  it('with the package, or with $VLFER_FFMPEG, the binary is found', () => {
    vi.stubEnv('VLFER_FFMPEG', '');
    expect(defaultFfmpegPath((id) => ({ path: `/opt/${id}/ffmpeg` }))).toBe(`/opt/${FFMPEG_PACKAGE}/ffmpeg`);
    vi.stubEnv('VLFER_FFMPEG', '/usr/bin/ffmpeg');
    expect(defaultFfmpegPath()).toBe('/usr/bin/ffmpeg');
  });
});
