import { BASIC_7, loadVideoFolder, loadAffectNetCsv, loadFerPlusCsv, loadImageFolder, loadRafDb, loadVideoList, MAFW_11, type ImageItem, type LoadResult, type VideoItem } from '@vlfer/datasets';
import type { LabelSet } from '@vlfer/core';
import { IMAGE_DATASETS, type EvalConfig } from './config.js';

export type EvalData =
  | { kind: 'images'; fold: number | null; labelSet: LabelSet; items: ImageItem[]; dropped: LoadResult<ImageItem>['dropped']; source: string }
  | { kind: 'video-files'; fold: number | null; labelSet: LabelSet; items: ImageItem[]; dropped: LoadResult<ImageItem>['dropped']; source: string }
  | { kind: 'videos'; fold: number | null; labelSet: LabelSet; items: VideoItem[]; dropped: LoadResult<VideoItem>['dropped']; source: string };

function need(value: string | undefined, flag: string, dataset: string): string {
  if (!value) throw new Error(`--${flag} is required for --dataset ${dataset}`);
  return value;
}

/** Load one fold (or the whole set) of the configured dataset with the @vlfer/datasets loaders. */
export async function loadEvalData(cfg: EvalConfig, fold: number | null): Promise<EvalData> {
  const annotations = cfg.annotations && fold !== null ? cfg.annotations.replaceAll('{fold}', String(fold)) : cfg.annotations;
  if (fold !== null && !cfg.annotations?.includes('{fold}')) throw new Error('--folds needs an --annotations path containing {fold}, e.g. DFEW_set_{fold}_test.txt');
  const take = <T>(r: LoadResult<T>) => ({ ...r, items: cfg.limit ? r.items.slice(0, cfg.limit) : r.items });
  if (cfg.dataset === 'video-folder') {
    const t = take(await loadVideoFolder(cfg.root));
    return { kind: 'video-files', fold, labelSet: t.labelSet, items: t.items, dropped: t.dropped, source: t.source };
  }
  if ((IMAGE_DATASETS as readonly string[]).includes(cfg.dataset)) {
    let r: LoadResult<ImageItem>;
    switch (cfg.dataset) {
      case 'raf-db':
        r = await loadRafDb({ root: cfg.root, split: cfg.split, ...(annotations ? { annotations } : {}) });
        break;
      case 'affectnet7':
      case 'affectnet8':
        r = await loadAffectNetCsv({ csv: need(annotations, 'annotations', cfg.dataset), imageRoot: cfg.root, classes: cfg.dataset === 'affectnet8' ? 8 : 7, outOfSet: 'drop', verify: 'header' });
        break;
      case 'ferplus':
        r = await loadFerPlusCsv({ csv: need(annotations, 'annotations', cfg.dataset), imageRoot: cfg.root, usage: cfg.split === 'test' ? 'PrivateTest' : 'Training', verify: 'header' });
        break;
      default:
        r = await loadImageFolder(cfg.root);
    }
    const t = take(r);
    return { kind: 'images', fold, labelSet: t.labelSet, items: t.items, dropped: t.dropped, source: t.source };
  }
  const labelSet: LabelSet = cfg.dataset === 'mafw' ? MAFW_11 : BASIC_7;
  const r = loadVideoList({ file: need(annotations, 'annotations', cfg.dataset), root: cfg.root, labelScheme: cfg.labelScheme, labelSet, ...(cfg.rebase ? { rebase: cfg.rebase } : {}) });
  const t = take(r);
  return { kind: 'videos', fold, labelSet, items: t.items, dropped: t.dropped, source: t.source };
}

