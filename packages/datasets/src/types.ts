import type { LabelSet } from '@vlfer/core';

/** One labelled image; `label` is an id in the loader's `labelSet`. */
export interface ImageItem {
  path: string;
  label: number;
}

/** One labelled video given as a directory of frame images. */
export interface VideoItem {
  frameDir: string;
  /** Frame count stated by the annotation (checked against the directory unless `checkFrames: 'none'`). */
  numFrames: number;
  label: number;
  /** 1-based line in the annotation file, for error messages downstream. */
  line: number;
  /** Set when `rebase` rewrote the listed path (the frames lie under its target); absent otherwise. */
  rebased?: true;
}

/** Items dropped under a documented option, by reason, so that nothing disappears silently. */
export interface DroppedCount {
  reason: string;
  count: number;
}

export interface LoadResult<T> {
  items: T[];
  labelSet: LabelSet;
  /** Number of items per label id. */
  counts: number[];
  /** Non-empty only when an option allowed dropping. */
  dropped: DroppedCount[];
  /** Where the items came from (directory or annotation file). */
  source: string;
  /** How the label set was chosen, when it was inferred rather than given. */
  labelSetReason?: string;
  /**
   * What makes the set's use suspect without making it wrong to read (video lists: frames numbered with numbers of
   * different widths, taken in name order); absent or empty when nothing is.
   */
  warnings?: string[];
}

/** What to do with a second row for the same image or clip: an error (default) or drop it (counted). */
export type DuplicatePolicy = 'error' | 'drop';

export function countLabels(items: readonly { label: number }[], numClasses: number): number[] {
  const c = new Array<number>(numClasses).fill(0);
  for (const it of items) c[it.label]! += 1;
  return c;
}

export class DropCounter {
  private readonly map = new Map<string, number>();
  add(reason: string, count = 1): void {
    this.map.set(reason, (this.map.get(reason) ?? 0) + count);
  }
  list(): DroppedCount[] {
    return [...this.map].map(([reason, count]) => ({ reason, count }));
  }
}

/** A loader's result: its items, their count per label id, and what it dropped, by reason. */
export function loadResult<T extends { label: number }>(
  items: T[],
  labelSet: LabelSet,
  dropped: DropCounter,
  source: string,
): LoadResult<T> {
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: dropped.list(), source };
}
