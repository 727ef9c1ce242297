/** File extensions read as images (case-insensitive). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.bmp',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
]);
/** File extensions read as videos (decoded with ffmpeg). */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set([
  '.mp4',
  '.avi',
  '.mov',
  '.mkv',
  '.webm',
  '.flv',
  '.mpg',
  '.mpeg',
  '.m4v',
  '.wmv',
]);

function extension(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot).toLowerCase();
}

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extension(name));
}

export function isVideoFile(name: string): boolean {
  return VIDEO_EXTENSIONS.has(extension(name));
}

/**
 * Compare two names as a person reads their numbers: runs of digits by value (`2` < `10`, `007` = `7`), the rest by
 * character; names equal that way by character. A total order.
 */
export function compareNumbered(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const [x, y] = [ta[i]!, tb[i]!];
    const digits = /^\d/.test(x) && /^\d/.test(y);
    const c = digits ? compareDigitRuns(x, y) : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return ta.length - tb.length || (a < b ? -1 : a > b ? 1 : 0);
}

function compareDigitRuns(x: string, y: string): number {
  const [u, v] = [x.replace(/^0+(?=\d)/, ''), y.replace(/^0+(?=\d)/, '')];
  return u.length - v.length || (u < v ? -1 : u > v ? 1 : 0);
}

/**
 * The first two neighbours of `names` (a frame directory's files in name order, as `sorted(glob(dir/*))` gives them
 * to the reference loaders) whose numbers say the other order — `['10.jpg', '2.jpg']` where frames are numbered
 * without zero padding — or null when name order is number order. Such a clip's frames are not in time order.
 */
export function nameOrderInversion(names: readonly string[]): [string, string] | null {
  for (let i = 1; i < names.length; i++)
    if (compareNumbered(names[i - 1]!, names[i]!) > 0) return [names[i - 1]!, names[i]!];
  return null;
}
