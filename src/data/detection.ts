/**
 * The browser-safe detection and segmentation data API in one place: boxes, IoU and NMS; RLE
 * masks; COCO / VOC / YOLO annotation parsing; index-mask PNGs; box- and mask-aware augmentation.
 * Node adds reading them from disk (detection-data-node.ts).
 */
export { argsortDescending, batchedNms, boxAreas, boxIou, nms } from './boxes.js'
export { rleArea, rleDecode, rleEncode, rleFromPolygon, rleFromPolygons, rleFromString, rleIou, rleMerge, rleProblem, rleToBbox, rleToString, type Rle } from './rle.js'
export {
  checkBox,
  parseCocoDetection,
  parseVocAnnotation,
  parseYoloDataYaml,
  parseYoloLabels,
  parseYoloNames,
  semanticMaskFromInstances,
  vocToDetection,
  VOC_CLASSES,
  type AnnotatedImage,
  type AnnotationOptions,
  type Category,
  type DetectionAnnotations,
  type VocAnnotation,
} from './detection-annotations.js'
export { decodeIndexPng, encodeIndexPng, encodeRgbPng, IndexPngError, isPng, vocPalette, type IndexMask } from './index-mask.js'
export { augmentDetection, cropDetection, hflipDetection, randomCropDetection, resizeDetection, scaleJitter, type DetectionAugmentation, type DetectionSample } from './detection-transforms.js'
export { parseXml, xmlChild, xmlChildText, XmlSyntaxError, type XmlElement } from './xml.js'
export { canvasOf, classColour, drawBox, drawLabelledBox, drawPolygon, drawText, overlayMask, textSize, type Rgb } from './draw.js'
