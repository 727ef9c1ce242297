import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { LABEL_SETS } from './index.js';
import { loadCkPlus, parseCkPlusEmotion } from './node/index.js';

/**
 * A CK+ release in miniature: S005/001 (10 frames, disgust at frame 10), S010/002 (4 frames, happy at 4), S010/006
 * (2 frames, surprise at 2), S011/001 (5 frames, no label), with the release's float labels and a .DS_Store.
 */
async function writeCkPlus(root: string): Promise<void> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#777' } })
    .png()
    .toBuffer();
  const sequences: [string, string, number, string | undefined][] = [
    ['S005', '001', 10, '   3.0000000e+00\n'],
    ['S010', '002', 4, '   5.0000000e+00\n'],
    ['S010', '006', 2, '   7.0000000e+00'],
    ['S011', '001', 5, undefined],
  ];
  for (const [subject, seq, frames, label] of sequences) {
    const dir = join(root, 'cohn-kanade-images', subject, seq);
    mkdirSync(dir, { recursive: true });
    for (let f = 1; f <= frames; f++)
      writeFileSync(join(dir, `${subject}_${seq}_${String(f).padStart(8, '0')}.png`), png);
    const emotion = join(root, 'Emotion', subject, seq);
    mkdirSync(emotion, { recursive: true });
    if (label) writeFileSync(join(emotion, `${subject}_${seq}_${String(frames).padStart(8, '0')}_emotion.txt`), label);
  }
  writeFileSync(join(root, 'cohn-kanade-images', 'S005', '001', '.DS_Store'), '');
}

describe('CK+', () => {
  const root = mkdtempSync(join(tmpdir(), 'vlfer-ckplus-'));
  beforeAll(() => writeCkPlus(root));
  const frame = (s: string, q: string, f: number) =>
    join(root, 'cohn-kanade-images', s, q, `${s}_${q}_${String(f).padStart(8, '0')}.png`);

  it('parseCkPlusEmotion reads the release’s float codes 0–7 and names anything else', () => {
    expect(parseCkPlusEmotion('   3.0000000e+00\n', 'e.txt')).toBe(3);
    expect(parseCkPlusEmotion('7', 'e.txt')).toBe(7);
    expect(parseCkPlusEmotion('\uFEFF3.0000000e+00\r\n', 'e.txt')).toBe(3);
    for (const bad of ['', '8.0000000e+00', '2.5', 'happy', '-1', '0x3', '3 4'])
      expect(() => parseCkPlusEmotion(bad, 'e.txt'), bad).toThrow(
        /^e\.txt: holds .*; expected a CK\+ emotion code 0–7/,
      );
  });

  it('the last peakFrames frames of each labelled sequence, up to its peak, with its emotion; unlabelled ones counted', async () => {
    const r = await loadCkPlus({ root });
    const names = r.labelSet.names;
    expect(r.labelSet.id).toBe('contempt-7');
    expect(r.items.map((i) => [i.path, names[i.label]])).toEqual([
      [frame('S005', '001', 8), 'disgust'],
      [frame('S005', '001', 9), 'disgust'],
      [frame('S005', '001', 10), 'disgust'],
      [frame('S010', '002', 2), 'happiness'],
      [frame('S010', '002', 3), 'happiness'],
      [frame('S010', '002', 4), 'happiness'],
      [frame('S010', '006', 1), 'surprise'], // a sequence of 2 frames gives 2
      [frame('S010', '006', 2), 'surprise'],
    ]);
    expect(r.dropped).toEqual([
      { reason: 'peak frames a sequence is too short to have', count: 1 },
      { reason: 'sequence without an emotion label', count: 1 },
    ]);
    const peak = await loadCkPlus({ root, peakFrames: 1 });
    expect(peak.items.map((i) => i.path)).toEqual([
      frame('S005', '001', 10),
      frame('S010', '002', 4),
      frame('S010', '006', 2),
    ]);
    await expect(loadCkPlus({ root, peakFrames: 0 })).rejects.toThrow(
      "Argument 'peakFrames' passed to 'loadCkPlus': expected a positive integer, got 0",
    );
  });

  it('neutralFrame adds each labelled sequence’s first frame as neutral (basic-8), where it is no peak frame', async () => {
    const r = await loadCkPlus({ root, neutralFrame: true });
    expect(r.labelSet.id).toBe('basic-8');
    const neutral = r.items.filter((i) => r.labelSet.names[i.label] === 'neutral').map((i) => i.path);
    expect(neutral).toEqual([frame('S005', '001', 1), frame('S010', '002', 1)]);
    expect(r.dropped).toContainEqual({
      reason: 'no neutral first frame: the sequence is no longer than peakFrames',
      count: 1,
    });
    await expect(loadCkPlus({ root, neutralFrame: true, labelSet: LABEL_SETS['contempt-7'] })).rejects.toThrow(
      /_emotion\.txt: labels 'neutral', which is not in the label set contempt-7; pass outOfSet: 'drop'/,
    );
  });

  it('a broken copy is named: a peak frame missing, a frame twice, a frame or label of another sequence, a link', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'vlfer-ckplus-copy-'));
    await writeCkPlus(copy);
    const seq = join(copy, 'cohn-kanade-images', 'S005', '001');
    const label = join(copy, 'Emotion', 'S005', '001', 'S005_001_00000010_emotion.txt');
    // macOS's ._ forks beside the labels are no second label
    writeFileSync(join(copy, 'Emotion', 'S005', '001', '._S005_001_00000010_emotion.txt'), 'fork');
    expect((await loadCkPlus({ root: copy })).items).toHaveLength(8);
    rmSync(join(seq, 'S005_001_00000009.png'));
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${label}: labels frame 10; ${seq} lacks frame 9, one of the 3 peak frames (a damaged copy?)`,
    );
    writeFileSync(join(seq, 'S005_001_00000009.png'), readFileSync(join(seq, 'S005_001_00000008.png')));
    writeFileSync(join(seq, 'S005_001_9.png'), readFileSync(join(seq, 'S005_001_00000008.png')));
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${join(seq, 'S005_001_9.png')}: is frame 9 again (also ${join(seq, 'S005_001_00000009.png')}); remove one`,
    );
    rmSync(join(seq, 'S005_001_9.png'));
    writeFileSync(join(seq, 'S007_003_00000011.png'), readFileSync(join(seq, 'S005_001_00000008.png')));
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${join(seq, 'S007_003_00000011.png')}: is not a frame of this sequence (S005_001_<frame>.png)`,
    );
    rmSync(join(seq, 'S007_003_00000011.png'));
    writeFileSync(join(copy, 'Emotion', 'S005', '001', 'S005_002_00000010_emotion.txt'), '3');
    rmSync(label);
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${join(copy, 'Emotion', 'S005', '001', 'S005_002_00000010_emotion.txt')}: labels another sequence than ${seq} (its name should start S005_001_)`,
    );
    rmSync(join(copy, 'Emotion', 'S005', '001', 'S005_002_00000010_emotion.txt'));
    symlinkSync(join(copy, 'nowhere'), join(copy, 'cohn-kanade-images', 'S999'));
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      new RegExp(
        `^${join(copy, 'cohn-kanade-images', 'S999')}: the subject folder|^${join(copy, 'cohn-kanade-images', 'S999')}: the image folder`,
      ),
    );
  });

  it('a labelled frame or sequence the images lack, and a stray file, are named', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'vlfer-ckplus-broken-'));
    await writeCkPlus(copy);
    rmSync(join(copy, 'cohn-kanade-images', 'S010', '002', 'S010_002_00000004.png'));
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${join(copy, 'Emotion', 'S010', '002', 'S010_002_00000004_emotion.txt')}: labels frame 4, which ${join(copy, 'cohn-kanade-images', 'S010', '002')} does not hold`,
    );
    rmSync(join(copy, 'cohn-kanade-images', 'S010', '002'), { recursive: true });
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${join(copy, 'Emotion', 'S010', '002', 'S010_002_00000004_emotion.txt')}: labels a sequence that ${join(copy, 'cohn-kanade-images', 'S010', '002')} does not hold`,
    );
    rmSync(join(copy, 'Emotion', 'S010', '002'), { recursive: true });
    writeFileSync(join(copy, 'cohn-kanade-images', 'S005', '001', 'notes.txt'), 'x');
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${join(copy, 'cohn-kanade-images', 'S005', '001', 'notes.txt')}: is not a frame of this sequence (S005_001_<frame>.png); pass extraFiles: 'skip'`,
    );
    const skipped = await loadCkPlus({ root: copy, extraFiles: 'skip' });
    expect(skipped.dropped).toContainEqual({ reason: 'not a frame of its sequence', count: 1 });
    rmSync(join(copy, 'Emotion'), { recursive: true });
    await expect(loadCkPlus({ root: copy })).rejects.toThrow(
      `${join(copy, 'Emotion')}: does not exist; expected the CK+ release: cohn-kanade-images/<subject>/<sequence>/ and Emotion/<subject>/<sequence>/`,
    );
  });
});
