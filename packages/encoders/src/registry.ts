/**
 * Known CLIP checkpoints in the transformers.js (ONNX) layout. The embedding dimension a model actually has
 * is read from its config.json at load time; this table is for listing and for documenting what to expect.
 */
export const CLIP_MODELS = {
  'Xenova/clip-vit-base-patch32': {
    architecture: 'ViT-B/32',
    embeddingDim: 512,
    imageSize: 224,
    expClipCheckpoint: 'ExpCLIP_B32_model.pth',
  },
  'Xenova/clip-vit-base-patch16': {
    architecture: 'ViT-B/16',
    embeddingDim: 512,
    imageSize: 224,
    expClipCheckpoint: 'ExpCLIP_B16_model.pth',
  },
  'Xenova/clip-vit-large-patch14': {
    architecture: 'ViT-L/14',
    embeddingDim: 768,
    imageSize: 224,
    expClipCheckpoint: 'ExpCLIP_L14_model.pth',
  },
} as const;
export type KnownClipModelId = keyof typeof CLIP_MODELS;
/** A known id, or any other Hugging Face id / local directory. */
export type ClipModelId = KnownClipModelId | (string & {});

export function listClipModels(): { id: KnownClipModelId; architecture: string; embeddingDim: number }[] {
  return (Object.keys(CLIP_MODELS) as KnownClipModelId[]).map((id) => ({
    id,
    architecture: CLIP_MODELS[id].architecture,
    embeddingDim: CLIP_MODELS[id].embeddingDim,
  }));
}

/** The files a model directory must hold (dtype suffix: '' for fp32, '_fp16', '_quantized' for q8). */
export function requiredModelFiles(suffix: string): string[] {
  return [
    'config.json',
    'preprocessor_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    `onnx/vision_model${suffix}.onnx`,
    `onnx/text_model${suffix}.onnx`,
  ];
}
