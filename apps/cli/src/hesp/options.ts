/** @file The flags of `vlfer hesp` (commander option definitions; the library validates the values again). */
import { Command, Option } from 'commander';
import { COMPUTE_DEVICES } from '@vlfer/core';
import { LABEL_SCHEMES } from '@vlfer/datasets';
import { OPEN_SET_METRIC_FAMILIES } from '@vlfer/metrics';
import { addFaceOptions, FACE_FLAG_NAMES, integer, integerList, number, rebasePair, stringList } from '@vlfer/cli-kit';

/** Flags spelled otherwise than the library option they set (for error messages). */
export const FLAG_NAMES = {
  trainAnnotations: '--train',
  testAnnotations: '--test',
  splitIndex: '--split',
  runDir: '--run',
  augment: '--no-augment',
  'referenceBehaviour.alphabeticalClassNames': '--reference-class-order',
  'referenceBehaviour.zeroContextGradient': '--reference-zero-context-grad',
  referenceBehaviour: '--reference-*',
  ...FACE_FLAG_NAMES,
};

export function trainCommand(): Command {
  return addFaceOptions(new Command('train'), { clips: true })
    .description(
      'train HESP on one open-set split; publishes metrics.json (both metric families), epochs.jsonl, train-log.jsonl, best.safetensors; rerun the same command to resume',
    )
    .addOption(
      new Option('--dataset <name>', 'split list and label set')
        .choices(['mafw', 'afew', 'dfew', 'ferv39k'])
        .makeOptionMandatory(),
    )
    .requiredOption(
      '--train <list>',
      "training annotation list (<frame_dir> <num_frames> <label> [text]), or DFEW's own set_N.csv (video_name,label; --root: its Clip/clip_224x224)",
    )
    .requiredOption('--test <list>', 'test annotation list')
    .option('--root <dir>', 'prefix for relative frame directories')
    .addOption(
      new Option(
        '--label-scheme <scheme>',
        "what the lists' label ids mean (default: HESP's own lists: mafw-hesp for MAFW, dfer-clip otherwise; label-set: positions in --label-set/--classes)",
      ).choices(LABEL_SCHEMES),
    )
    .option(
      '--label-set <name|file.json>',
      "the run's classes and their order (ids are mapped in by name): a built-in id (basic-7, mafw-11, contempt-7, …) or a JSON file (default: the dataset's)",
    )
    .option('--classes <a,b,c>', 'class names in output order (an ad-hoc label set)', stringList)
    .option('--rebase <from=to>', 'rewrite the start of frame-directory paths in the lists', rebasePair)
    .option(
      '--allow-outside-root',
      'read frame directories that leave --root (../x, absolute paths elsewhere); refused by default',
    )
    .addOption(
      new Option('--duplicates <policy>', 'a second row for the same clip').choices(['error', 'drop']).default('error'),
    )
    .option(
      '--split <i>',
      "HESP split index 0..19: position i in split.py's list of the dataset (the reference's run i trains splits[19 − i])",
      integer(0),
    )
    .option(
      '--known <ids>',
      'explicit known class ids (distinct, the label set order), instead of --split',
      integerList,
    )
    .requiredOption(
      '--model <dir|file.pt>',
      'local CLIP weights: Hugging Face directory (config.json, model.safetensors, tokenizer) or OpenAI .pt checkpoint',
    )
    .option(
      '--tokenizer <dir>',
      'CLIP tokenizer directory (for .pt checkpoints, and --model directories without tokenizer.json)',
    )
    .option(
      '--allow-remote',
      'fetch the CLIP tokenizer (openai/clip-vit-base-patch32) from the Hugging Face Hub when --model has none and --tokenizer is not given',
      false,
    )
    .option('--epochs <n>', 'epochs', integer(1), 100)
    .option('--batch <n>', 'clips per batch', integer(1), 64)
    .option('--frames <n>', 'TSN frames per clip', integer(1), 8)
    .option('--lr <x>', 'SGD learning rate', number({ positive: true }), 0.01)
    .option('--seed <n>', 'seed', integer(), 0)
    .option('--location <row,col>', "fixed visual-prompt centre instead of HESP's CAM rule", integerList)
    .option('--val-fraction <x>', 'training clips held out for model selection', number(), 0.2)
    .addOption(
      new Option('--select-on <set>', "'val', or 'test' (the reference's optimistic protocol)")
        .choices(['val', 'test'])
        .default('val'),
    )
    .addOption(
      new Option('--selection-metrics <family>', 'metric definitions that drive selection on the test split')
        .choices(OPEN_SET_METRIC_FAMILIES)
        .default('arpl'),
    )
    .option('--no-augment', 'no training augmentation (HESP: random flip + random sized crop)')
    .option('--reference-class-order', "reproduce the reference's alphabetical class-name order bug")
    .option('--reference-zero-context-grad', "reproduce the reference's zeroed context gradient")
    .option('--checkpoint-every <n>', 'training steps between checkpoints', integer(1), 1)
    .addOption(new Option('--device <device>').choices(COMPUTE_DEVICES).default('cpu'))
    .option(
      '--threads <n>',
      'ONNX Runtime threads (default: every CPU this process may use; env VLFER_THREADS)',
      integer(1),
    )
    .option('--no-progress', 'no progress bars')
    .option('--out <dir>', 'output directory (locked while running)', 'runs/hesp');
}

export function evalCommand(): Command {
  return new Command('eval')
    .description(
      "re-evaluate a run's selected state on its test split (adds eval.json and scores.csv to the run's outputs)",
    )
    .requiredOption('--run <dir>', "directory written by 'hesp train'")
    .option('--allow-remote', 'fetch the CLIP tokenizer from the Hugging Face Hub when the run trained with one', false)
    .option('--no-progress', 'no progress bars');
}
