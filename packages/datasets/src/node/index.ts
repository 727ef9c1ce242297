/**
 * @file `@vlfer/datasets/node`: dataset loaders that read files and folders (class folders, RAF-DB, AffectNet,
 * FERPlus, CK+, KDEF and JAFFE by their file names, video lists), image checks with sharp, frame listing. Parsing itself is in the runtime-neutral main entry.
 */
export type { ImageVerification } from './image-check.js';
export { verifyImage } from './image-check.js';
export type { ImageFolderOptions } from './image-folder.js';
export { loadImageFolder, loadVideoFolder, listImages } from './image-folder.js';
export type { VideoListOptions } from './video-list.js';
export { loadVideoList, videoListSteps, listFrames, realPath, unsetLabelScheme, type VideoList } from './video-list.js';
export { checkRootDir } from './scan-errors.js';
export type { RafDbOptions, AffectNetOptions, FerPlusOptions } from './tabular.js';
export { loadRafDb, loadAffectNetCsv, loadFerPlusCsv, ferPlusFolderUsage } from './tabular.js';
export type { AffectNetNpyOptions } from './affectnet-npy.js';
export { loadAffectNetNpy } from './affectnet-npy.js';
export type { NameCodedOptions } from './name-coded.js';
export { loadNameCoded } from './name-coded.js';
export type { CkPlusOptions } from './ckplus.js';
export { loadCkPlus, parseCkPlusEmotion, CKPLUS_EMOTIONS } from './ckplus.js';
export type { Fer2013ExportOptions, Fer2013ExportResult } from './fer2013-export.js';
export { exportFer2013Csv } from './fer2013-export.js';
export type { LabelSetChoice } from './label-set-file.js';
export { resolveLabelSet } from './label-set-file.js';
