/** What `predict` prints and draws for every detector: boxes (x1 y1 x2 y2), labels and scores per image, best first. */
import { ConfigError } from '../../errors.js'
import { classColour, drawLabelledBox } from '../../data/draw.js'
import { Drawings } from '../draw-node.js'
import type { PredictRecord } from '../task.js'

/** One image's detections in input pixels, sorted by score. */
export interface ImageDetections {
  boxes: ArrayLike<number>
  scores: ArrayLike<number>
  labels: ArrayLike<number>
}

/** Runs `detect` on each path; `draw` (the --draw folder, if any) gets each image with its boxes. */
export async function predictDetections(paths: readonly string[], draw: unknown, labels: readonly string[], detect: (path: string) => Promise<ImageDetections>): Promise<PredictRecord[]> {
  if (paths.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give image files as arguments', 'run "finetune predict --help"')
  const drawings = await Drawings.open(draw)
  const out: PredictRecord[] = []
  for (const path of paths) {
    const d = await detect(path)
    const boxOf = (k: number): number[] => Array.from(d.boxes).slice(4 * k, 4 * k + 4)
    const detections = Array.from(d.scores, (score, k) => ({ box: boxOf(k).map((v) => Math.round(v * 100) / 100), label: labels[d.labels[k]!]!, score }))
    let drawn: string | undefined
    if (drawings) {
      const pic = await drawings.canvas(path)
      // the best last, on top
      for (let k = detections.length - 1; k >= 0; k--) drawLabelledBox(pic, boxOf(k), `${detections[k]!.label} ${detections[k]!.score.toFixed(2)}`, classColour(d.labels[k]!))
      drawn = await drawings.write(path, pic)
    }
    out.push({ path, detections, ...(detections[0] ? { label: detections[0].label, score: detections[0].score } : {}), ...(drawn ? { drawn } : {}), logits: [] })
  }
  return out
}
