/**
 * The transformer-block benchmark step in TensorFlow.js (pure-JS CPU backend, the engine a
 * TypeScript developer has without finetune): same shapes, pre-LN block, exact GELU, softmax
 * attention, MSE, Adam with decoupled weight decay applied by hand. Prints {"median_ms": ...}.
 * usage: npx tsx bench/tfjs-block.ts [STEPS] [WARMUP]
 */
import * as tf from '@tensorflow/tfjs'

const steps = Number(process.argv[2] ?? 5)
const warmup = Number(process.argv[3] ?? 2)
await tf.setBackend('cpu')
const [B, T, C, H, F] = [16, 64, 256, 4, 1024]
const v = (shape: number[], scale: number) => tf.variable(tf.randomUniform(shape, -scale, scale))
const p = {
  ln1g: tf.variable(tf.ones([C])), ln1b: tf.variable(tf.zeros([C])),
  wqkv: v([C, 3 * C], 1 / Math.sqrt(C)), bqkv: tf.variable(tf.zeros([3 * C])),
  wo: v([C, C], 1 / Math.sqrt(C)), bo: tf.variable(tf.zeros([C])),
  ln2g: tf.variable(tf.ones([C])), ln2b: tf.variable(tf.zeros([C])),
  w1: v([C, F], 1 / Math.sqrt(C)), b1: tf.variable(tf.zeros([F])),
  w2: v([F, C], 1 / Math.sqrt(F)), b2: tf.variable(tf.zeros([C])),
}
const ln = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
  const { mean, variance } = tf.moments(x, -1, true)
  return x.sub(mean).div(variance.add(1e-5).sqrt()).mul(g).add(b)
}
const gelu = (x: tf.Tensor) => x.mul(0.5).mul(tf.erf(x.div(Math.SQRT2)).add(1))
const lin = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => x.reshape([-1, w.shape[0]!]).matMul(w).add(b).reshape([B, T, w.shape[1]!])
const x = tf.randomNormal([B, T, C])
const target = tf.randomNormal([B, T, C])
const opt = tf.train.adam(1e-4)
const times: number[] = []
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now()
  tf.tidy(() => {
    const { grads } = tf.variableGrads(() => {
      const qkv = lin(ln(x, p.ln1g, p.ln1b), p.wqkv, p.bqkv)
      const [q, k, vv] = tf.split(qkv, 3, -1).map((t) => t.reshape([B, T, H, C / H]).transpose([0, 2, 1, 3]))
      const att = tf.softmax(tf.matMul(q!, k!, false, true).mul(1 / Math.sqrt(C / H)), -1)
      const y = tf.matMul(att, vv!).transpose([0, 2, 1, 3]).reshape([B, T, C])
      const h = x.add(lin(y, p.wo, p.bo))
      const out = h.add(lin(gelu(lin(ln(h, p.ln2g, p.ln2b), p.w1, p.b1)), p.w2, p.b2))
      return tf.losses.meanSquaredError(target, out) as tf.Scalar
    })
    opt.applyGradients(grads as tf.NamedTensorMap as never)
    for (const w of [p.wqkv, p.wo, p.w1, p.w2]) w.assign(w.mul(1 - 1e-4 * 0.01))
  })
  times.push(performance.now() - t0)
}
const sorted = times.slice(warmup).sort((a, b) => a - b)
console.log(JSON.stringify({ median_ms: sorted[Math.floor(sorted.length / 2)], backend: tf.getBackend() }))
