// Every op: ORT forward vs the float64 reference, reference gradients vs central finite differences,
// ORT gradients vs reference gradients. Tolerances (relative to the largest magnitude): ORT 2e-5
// unless stated, finite differences 1e-5 (eps 1e-6, float64).
import { describe, expect, it } from 'vitest'
import { concat, Parameter, trace, where, type Tensor } from '../graph/graph.js'
import { lower } from '../onnx/lower.js'
import { grad } from './grad.js'
import * as nn from '../graph/nn.js'
import { checkOp } from '../../test/op-check.js'

const f = (...shape: number[]) => ({ shape })
const pos = (...shape: number[]) => ({ shape, range: [0.5, 2] as [number, number] })
const ints = (shape: number[], values: number[]) => ({ shape, dtype: 'int64' as const, values, noGrad: true })
const bools = (shape: number[], values: number[]) => ({ shape, dtype: 'bool' as const, values, noGrad: true })

describe('elementwise ops', () => {
  const unary: [string, (x: Tensor) => Tensor, { shape: number[]; range?: [number, number] }][] = [
    ['neg', (x) => x.neg(), f(3, 4)],
    ['exp', (x) => x.exp(), f(3, 4)],
    ['log', (x) => x.log(), pos(3, 4)],
    ['sqrt', (x) => x.sqrt(), pos(3, 4)],
    ['rsqrt', (x) => x.rsqrt(), pos(3, 4)],
    ['reciprocal', (x) => x.reciprocal(), pos(3, 4)],
    ['abs', (x) => x.abs(), f(3, 4)],
    ['tanh', (x) => x.tanh(), f(3, 4)],
    ['erf', (x) => x.erf(), f(3, 4)],
    ['sigmoid', (x) => x.sigmoid(), f(3, 4)],
    ['relu', (x) => x.relu(), f(3, 4)],
    ['sin', (x) => x.sin(), f(3, 4)],
    ['cos', (x) => x.cos(), f(3, 4)],
    ['square', (x) => x.square(), f(1)],
    ['gelu exact', (x) => nn.gelu(x), f(2, 5)],
    // exp(u^2) overflows float32 beyond |x| ~ 13.3: the gradient must still be 0 or 1 there, not NaN
    ['gelu exact, large inputs', (x) => nn.gelu(x), { shape: [4, 8], range: [-20, 20] }],
    ['gelu tanh', (x) => nn.gelu(x, 'tanh'), f(2, 5)],
    ['silu', (x) => nn.silu(x), f(2, 5)],
    ['clip', (x) => x.clip(-0.5, 0.7), f(4, 4)],
    ['clip min only', (x) => x.clip(0), f(4, 4)],
    // spread over the kinks at -3 and 3 (finite differences straddle a kink only with probability ~1e-5)
    ['hardsigmoid', (x) => nn.hardsigmoid(x), { shape: [4, 6], range: [-5, 5] }],
    ['hardswish', (x) => nn.hardswish(x), { shape: [4, 6], range: [-5, 5] }],
  ]
  for (const [name, fn, spec] of unary) it(`${name} matches reference and finite differences`, () => checkOp(name, [spec], fn))

  const shapes: [number[], number[]][] = [
    [[2, 3, 4], [2, 3, 4]],
    [[2, 3, 4], [3, 1]],
    [[1], [2, 3]],
    [[4, 1, 3], [1, 5, 1]],
    [[], [3, 2]],
  ]
  for (const [a, b] of shapes) {
    it(`add/sub/mul/div broadcast [${a}] with [${b}]`, async () => {
      await checkOp('add', [f(...a), f(...b)], (x, y) => x.add(y))
      await checkOp('sub', [f(...a), f(...b)], (x, y) => x.sub(y))
      await checkOp('mul', [f(...a), f(...b)], (x, y) => x.mul(y))
      await checkOp('div', [f(...a), pos(...b)], (x, y) => x.div(y))
    })
  }
  it('pow with tensor and scalar exponents', async () => {
    await checkOp('pow', [pos(3, 4), f(4)], (x, y) => x.pow(y))
    await checkOp('pow scalar', [pos(3, 4)], (x) => x.pow(3))
  })
  it('maximum and minimum, with ties splitting the gradient', async () => {
    await checkOp('max', [f(3, 4), f(4)], (x, y) => x.maximum(y))
    await checkOp('min', [f(3, 4), f(3, 1)], (x, y) => x.minimum(y))
  })
  it('where with a broadcast condition', () =>
    checkOp('where', [bools([3, 1], [1, 0, 1]), f(3, 4), f(4)], (c, a, b) => where(c, a, b)))
  it('comparisons, logic and casts give reference values', async () => {
    const r = await checkOp('cmp', [f(2, 3), f(3)], (a, b) => a.gt(b).and(a.le(b.add(1))).or(a.eq(b)).not().cast('float32'))
    expect(r.data.every((v) => v === 0 || v === 1)).toBe(true)
    await checkOp('ne/ge/lt', [ints([4], [1, 2, 3, 4]), ints([4], [1, 0, 3, 9])], (a, b) => a.ne(b).or(a.ge(b)).and(a.lt(b).not()).cast('float32'))
    await checkOp('cast int', [f(5)], (a) => a.mul(3).cast('int64').cast('float32'), { skipGrad: true })
  })
})

describe('reductions', () => {
  it('sum, mean and max over axes, with and without keepdims', async () => {
    await checkOp('sum', [f(2, 3, 4)], (x) => x.sum([0, 2]))
    await checkOp('sum keep', [f(2, 3, 4)], (x) => x.sum(1, true))
    await checkOp('sum all', [f(2, 3)], (x) => x.sum())
    await checkOp('sum of squares', [f(2, 3, 4)], (x) => x.sumSquares([0, 2]))
    await checkOp('sum of squares keep, all', [f(3, 5)], (x) => x.sumSquares(undefined, true))
    await checkOp('mean', [f(2, 3, 4)], (x) => x.mean(-1))
    await checkOp('mean keep', [f(2, 1, 4)], (x) => x.mean([1, 2], true))
    await checkOp('max', [f(2, 3, 4)], (x) => x.max(1))
    await checkOp('max keep', [f(3, 5)], (x) => x.max(-1, true))
  })
  it('a mean over ReLU (global average pooling): its broadcast gradient meets the mask without an Expand', async () => {
    await checkOp('relu then mean', [f(2, 3, 4, 4)], (x) => x.relu().mean([2, 3]))
    const { graph, result: dx } = trace((g) => {
      const x = g.input('x', [2, 3, 4, 4])
      return grad(x.relu().mean([2, 3]).mul(g.input('w', [2, 3])).sum(), [x])[0]!
    })
    const ops = lower({ outputs: [{ name: 'dx', tensor: dx }] }).model.graph.node.map((n) => n.opType)
    expect(graph.nodes.some((n) => n.op === 'Expand')).toBe(true) // the mean's rule expands...
    expect(ops).not.toContain('Expand') // ...but nothing reads the expanded copy
    expect(ops).toContain('Mul')
  })
  it('variance (biased and unbiased)', async () => {
    await checkOp('var', [f(3, 6)], (x) => x.variance(-1))
    await checkOp('var unbiased', [f(3, 6)], (x) => x.variance([0, 1], true, 1))
  })
  it('cumsum forward, reverse and exclusive', async () => {
    await checkOp('cumsum', [f(3, 5)], (x) => x.cumsum(1))
    await checkOp('cumsum rev excl', [f(4, 3)], (x) => x.cumsum(0, { reverse: true, exclusive: true }))
    await checkOp('cumsum int', [ints([2, 3], [1, 0, 1, 1, 1, 0])], (x) => x.cumsum(1).cast('float32'))
  })
  it('argmax', async () => {
    const r = await checkOp('argmax', [f(3, 5)], (x) => x.argmax(-1).cast('float32'))
    expect(r.shape).toEqual([3])
  })
})

describe('linear algebra', () => {
  it('matmul 2-D, batched and broadcast', async () => {
    await checkOp('mm', [f(3, 4), f(4, 5)], (a, b) => a.matmul(b))
    await checkOp('bmm', [f(2, 3, 4), f(2, 4, 5)], (a, b) => a.matmul(b))
    await checkOp('bmm broadcast', [f(2, 1, 3, 4), f(5, 4, 2)], (a, b) => a.matmul(b))
    await checkOp('nd @ 2d', [f(2, 3, 4), f(4, 5)], (a, b) => a.matmul(b))
    await checkOp('size-1 dims', [f(1, 1, 4), f(4, 1)], (a, b) => a.matmul(b))
  })
  it('matmul of transposed operands', async () => {
    await checkOp('mm transposed', [f(4, 3), f(5, 4)], (a, b) => a.transpose().matmul(b.transpose()))
    await checkOp('bmm swapped', [f(2, 4, 3), f(2, 4, 5)], (a, b) => a.swap(-1, -2).matmul(b))
  })
  it('linear (Gemm) with every transpose combination and bias', async () => {
    await checkOp('linear', [f(3, 4), f(5, 4), f(5)], (x, w, b) => nn.linear(x, w, b))
    await checkOp('linear 3d', [f(2, 3, 4), f(5, 4), f(5)], (x, w, b) => nn.linear(x, w, b))
    await checkOp('linear nobias', [f(2, 3, 4), f(5, 4)], (x, w) => nn.linear(x, w))
    for (const tA of [false, true])
      for (const tB of [false, true]) {
        await checkOp(`gemm ${tA} ${tB}`, [f(...(tA ? [4, 3] : [3, 4])), f(...(tB ? [5, 4] : [4, 5])), f(1, 5)], (a, b, c) =>
          a.graph.emit('Gemm', [a, b, c], { transA: tA, transB: tB, alpha: 0.7, beta: 1.3 })[0]!,
        )
      }
  })
})

describe('shape ops', () => {
  it('reshape, transpose, squeeze, unsqueeze, flatten', async () => {
    await checkOp('reshape', [f(2, 3, 4)], (x) => x.reshape([6, -1]).mul(2))
    await checkOp('transpose', [f(2, 3, 4)], (x) => x.transpose([2, 0, 1]))
    await checkOp('squeeze', [f(2, 1, 3)], (x) => x.squeeze(1).unsqueeze(0).flatten())
  })
  it('slice with steps, negative starts and clamping', async () => {
    await checkOp('slice', [f(5, 6)], (x) => x.slice(1, 1, 5))
    await checkOp('slice step', [f(5, 7)], (x) => x.slice(1, 1, 7, 2))
    await checkOp('slice step 3', [f(8)], (x) => x.slice(0, 0, 8, 3))
    await checkOp('slice negative', [f(5, 6)], (x) => x.slice(0, -3).slice(1, 0, 100))
  })
  it('concat and split', async () => {
    await checkOp('concat', [f(2, 3), f(2, 1), f(2, 4)], (a, b, c) => concat([a, b, c], 1))
    await checkOp('split', [f(3, 7)], (x) => {
      const [a, b, c] = x.split([2, 4, 1], 1)
      return concat([c!.mul(2), a!.exp(), b!], 1)
    })
    await checkOp('split unused part', [f(4, 6)], (x) => x.chunk(3, 1)[1]!.mul(3))
  })
  it('expand and pad', async () => {
    await checkOp('expand', [f(3, 1)], (x) => x.expand([2, 3, 4]))
    await checkOp('pad', [f(2, 3)], (x) => x.pad([[1, 0], [2, 3]], 0.5))
  })
  it('gather along axis 0 (embedding, repeated ids) and axis 1', async () => {
    await checkOp('embedding', [f(5, 3), ints([2, 3], [0, 4, 4, 1, 0, 2])], (w, i) => nn.embedding(i, w))
    await checkOp('gather axis 1', [f(2, 4, 3), ints([2], [3, 3])], (x, i) => x.gather(i, 1))
  })
  it('gatherElements', () => checkOp('gatherElements', [f(3, 4), ints([3, 2], [0, 3, 1, 1, 2, 0])], (x, i) => x.gatherElements(i, 1)))
})

describe('normalisation and softmax', () => {
  it('softmax and log-softmax on any axis', async () => {
    await checkOp('softmax', [f(3, 5)], (x) => x.softmax(-1))
    await checkOp('softmax axis 1', [f(2, 4, 3)], (x) => x.softmax(1))
    await checkOp('log_softmax', [f(3, 5)], (x) => x.logSoftmax(-1))
    await checkOp('log_softmax axis 0', [f(4, 3)], (x) => x.logSoftmax(0))
  })
  it('layer norm with and without bias, over one or two axes', async () => {
    await checkOp('layernorm', [f(2, 3, 8), f(8), f(8)], (x, w, b) => nn.layerNorm(x, w, b, 1e-5))
    await checkOp('layernorm nobias', [f(4, 6), f(6)], (x, w) => nn.layerNorm(x, w, null, 1e-5))
    await checkOp('layernorm 2 axes', [f(2, 3, 4), f(3, 4), f(3, 4)], (x, w, b) => nn.layerNorm(x, w, b, 1e-6))
  })
  it('group norm (torchvision FCOS head: groups of channels over positions), with and without affine', async () => {
    await checkOp('groupnorm', [f(2, 6, 3, 2), f(6), f(6)], (x, w, b) => nn.groupNorm(x.mul(1.5).add(0.3), 3, w, b, 1e-5))
    await checkOp('groupnorm one group per channel', [f(1, 4, 5), f(4), f(4)], (x, w, b) => nn.groupNorm(x, 4, w, b, 1e-5))
    await checkOp('groupnorm no affine', [f(2, 4, 2, 2)], (x) => nn.groupNorm(x, 2, null, null, 1e-5))
  })
  it('nearest upsampling by 2 and 3 (the FPN top-down path)', async () => {
    await checkOp('upsample2', [f(1, 2, 2, 3)], (x) => nn.upsampleNearest(x, 2))
    await checkOp('upsample3', [f(2, 1, 3, 2)], (x) => nn.upsampleNearest(x, 3))
  })
  it('batch norm in training mode (batch statistics, gradients through mean and variance)', async () => {
    const rm = new Parameter([3], { kind: 'buffer' })
    const rv = new Parameter([3], { kind: 'buffer', data: new Float32Array([1, 2, 0.5]) })
    rm.name = 'rm'
    rv.name = 'rv'
    await checkOp('batchnorm train', [f(4, 3, 2, 2), f(3), f(3)], (x, w, b) => nn.batchNorm(x.mul(2).add(0.5), { weight: w, bias: b, runningMean: rm, runningVar: rv, momentum: 0.1, eps: 1e-5 }))
    await checkOp('batchnorm train 2d', [f(6, 4), f(4), f(4)], (x, w, b) => nn.batchNorm(x, { weight: w, bias: b, runningMean: new Parameter([4], { kind: 'buffer' }), runningVar: new Parameter([4], { kind: 'buffer' }), momentum: 0.1, eps: 1e-5 }))
  })
  it('batch norm in eval mode (running statistics)', async () => {
    await checkOp('batchnorm eval', [f(2, 3, 2, 2), f(3), f(3), { ...f(3), noGrad: true }, { ...pos(3), noGrad: true }], (x, w, b, m, v) =>
      x.graph.emit('BatchNormalization', [x, w, b, m, v], { epsilon: 1e-5 })[0]!,
    )
  })
})

describe('convolution and pooling', () => {
  const conv = (o: nn.Conv2dOptions) => (x: Tensor, w: Tensor, b?: Tensor) => nn.conv2d(x, w, b ?? null, o)
  it('conv1d with a long kernel (the correlation form of the weight gradient): groups, padding, stride, dilation', async () => {
    const conv1d = (a: { strides: number[]; pads: number[]; dilations: number[]; group: number }) => (x: Tensor, w: Tensor, b?: Tensor) => x.graph.emit('Conv', b ? [x, w, b] : [x, w], a)[0]!
    await checkOp('conv1d long', [f(2, 4, 40), f(6, 2, 33), f(6)], conv1d({ strides: [1], pads: [16, 16], dilations: [1], group: 2 }), { fdSamples: 12 })
    await checkOp('conv1d long s2 d2', [f(1, 2, 90), f(2, 2, 32)], conv1d({ strides: [2], pads: [3, 5], dilations: [2], group: 1 }), { fdSamples: 12 })
  })
  it('conv2d stride 1 padding 1 with bias', () => checkOp('conv', [f(2, 3, 5, 5), f(4, 3, 3, 3), f(4)], conv({ padding: 1 })))
  it('conv2d stride 2, no padding', () => checkOp('conv s2', [f(1, 2, 7, 6), f(3, 2, 3, 3)], conv({ stride: 2 })))
  it('conv2d stride 2 with padding and an uneven input', () => checkOp('conv s2p1', [f(2, 2, 6, 5), f(3, 2, 3, 3)], conv({ stride: 2, padding: 1 })))
  it('conv2d dilation 2', () => checkOp('conv dil', [f(1, 2, 7, 7), f(2, 2, 3, 3)], conv({ dilation: 2, padding: 2 })))
  it('conv2d groups 2', () => checkOp('conv groups', [f(2, 4, 5, 5), f(6, 2, 3, 3)], conv({ groups: 2, padding: 1 })))
  it('depthwise conv2d', () => checkOp('conv dw', [f(2, 3, 6, 6), f(3, 1, 3, 3)], conv({ groups: 3, padding: 1 })))
  it('depthwise conv2d with multiplier and stride 2', () => checkOp('conv dw s2', [f(1, 2, 6, 6), f(4, 1, 3, 3)], conv({ groups: 2, padding: 1, stride: 2 })))
  it('1x1 conv2d and a 7x7 stride-2 stem', async () => {
    await checkOp('conv 1x1', [f(2, 4, 3, 3), f(5, 4, 1, 1)], conv({}))
    await checkOp('conv stem', [f(1, 3, 12, 12), f(2, 3, 7, 7)], conv({ stride: 2, padding: 3 }))
  })
  const convT = (a: Partial<{ strides: number[]; pads: number[]; group: number; outputPadding: number[] }>) => (x: Tensor, w: Tensor, b?: Tensor) =>
    x.graph.emit('ConvTranspose', b ? [x, w, b] : [x, w], { strides: a.strides ?? [1, 1], pads: a.pads ?? [0, 0, 0, 0], dilations: [1, 1], group: a.group ?? 1, outputPadding: a.outputPadding ?? [0, 0] })[0]!
  it('conv transpose: input, weight and bias gradients', async () => {
    await checkOp('convT s2', [f(2, 3, 3, 4), f(3, 2, 2, 2), f(2)], convT({ strides: [2, 2] }))
    await checkOp('convT s1 pad', [f(1, 2, 4, 4), f(2, 3, 3, 3)], convT({ pads: [1, 1, 1, 1] }))
    await checkOp('convT s2 outpad', [f(1, 2, 3, 3), f(2, 2, 3, 3), f(2)], convT({ strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] }))
    await checkOp('convT groups', [f(1, 4, 3, 3), f(4, 1, 2, 2)], convT({ strides: [2, 2], group: 2 }))
  })
  it('padding wider than the kernel reach', () => checkOp('conv widepad', [f(1, 1, 3, 3), f(1, 1, 1, 1)], conv({ padding: 2 })))
  it('max pool (overlapping windows, padding, ceil mode)', async () => {
    await checkOp('maxpool', [f(2, 2, 6, 6)], (x) => nn.maxPool2d(x, 2))
    await checkOp('maxpool overlap', [f(1, 2, 7, 7)], (x) => nn.maxPool2d(x, 3, { stride: 2, padding: 1 }))
    await checkOp('maxpool ceil', [f(1, 1, 6, 6)], (x) => nn.maxPool2d(x, 3, { stride: 2, ceilMode: true }))
  })
  it('average pool (count_include_pad both ways, ceil mode) and global average pool', async () => {
    await checkOp('avgpool', [f(2, 2, 6, 6)], (x) => nn.avgPool2d(x, 2))
    await checkOp('avgpool pad incl', [f(1, 2, 5, 5)], (x) => nn.avgPool2d(x, 3, { stride: 2, padding: 1 }))
    await checkOp('avgpool pad excl', [f(1, 2, 5, 5)], (x) => nn.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }))
    await checkOp('avgpool ceil', [f(1, 1, 6, 6)], (x) => nn.avgPool2d(x, 3, { stride: 2, ceilMode: true }))
    await checkOp('gap', [f(2, 3, 4, 5)], (x) => nn.globalAvgPool(x))
  })
  it('adaptive average pool to 1x1, to a divisor and to overlapping windows', async () => {
    await checkOp('adaptive 1x1', [f(2, 3, 5, 4)], (x) => nn.adaptiveAvgPool2d(x, 1))
    await checkOp('adaptive 2x2 of 4x6', [f(1, 2, 4, 6)], (x) => nn.adaptiveAvgPool2d(x, 2))
    await checkOp('adaptive 3x2 of 5x5', [f(1, 2, 5, 5)], (x) => nn.adaptiveAvgPool2d(x, [3, 2]))
  })
  it('bilinear resize (align_corners=False): upsampling, downsampling, one axis, to and from 1', async () => {
    await checkOp('bilinear up', [f(2, 3, 3, 4)], (x) => nn.interpolateBilinear(x, [7, 9]))
    await checkOp('bilinear down', [f(1, 2, 8, 6)], (x) => nn.interpolateBilinear(x, [3, 5]))
    await checkOp('bilinear width only', [f(1, 1, 4, 3)], (x) => nn.interpolateBilinear(x, [4, 8]))
    await checkOp('bilinear from 1x1', [f(1, 2, 1, 1)], (x) => nn.interpolateBilinear(x, [3, 2]))
    await checkOp('bilinear to 1x1', [f(1, 2, 4, 5)], (x) => nn.interpolateBilinear(x, [1, 1]))
  })
  it('dilated 3x3 conv with padding equal to the dilation (DeepLab ASPP), dilation beyond the input', async () => {
    await checkOp('conv dil 3', [f(1, 3, 6, 6), f(2, 3, 3, 3), f(2)], conv({ dilation: 3, padding: 3 }))
    await checkOp('conv dil 12 on 4x4', [f(1, 2, 4, 4), f(2, 2, 3, 3)], conv({ dilation: 12, padding: 12 }))
    await checkOp('conv dil 2 stride 2 depthwise', [f(1, 3, 7, 7), f(3, 1, 3, 3)], conv({ dilation: 2, padding: 2, groups: 3, stride: 2 }))
  })
})

describe('losses and attention', () => {
  it('cross entropy with ignore index and label smoothing', async () => {
    const t = ints([5], [0, 2, -100, 1, 2])
    const r = await checkOp('ce', [f(5, 3), t], (x, y) => nn.crossEntropy(x, y))
    expect(r.data[0]).toBeGreaterThan(0)
    await checkOp('ce smooth', [f(5, 3), t], (x, y) => nn.crossEntropy(x, y, { labelSmoothing: 0.1 }))
    await checkOp('ce sum 3d', [f(2, 3, 4), ints([2, 3], [0, 1, 2, 3, -100, 0])], (x, y) => nn.crossEntropy(x, y, { reduction: 'sum' }))
  })
  it('cross entropy when every target is ignored is zero, not NaN', async () => {
    const r = await checkOp('ce all ignored', [f(2, 3), ints([2], [-100, -100])], (x, y) => nn.crossEntropy(x, y), { skipGrad: true })
    expect(r.data[0]).toBe(0)
  })
  it('mse and binary cross entropy with logits', async () => {
    await checkOp('mse', [f(4, 2), f(4, 2)], (a, b) => nn.mse(a, b))
    await checkOp('bce', [f(4, 3), { shape: [4, 3], range: [0, 1] as [number, number], noGrad: true }], (x, t) => nn.bceWithLogits(x, t))
  })
  it('attention with padding and causal masks', async () => {
    await checkOp('attention', [f(2, 2, 4, 3), f(2, 2, 4, 3), f(2, 2, 4, 3), ints([2, 4], [1, 1, 1, 0, 1, 1, 0, 0])], (q, k, v, m) =>
      nn.attention(q, k, v, { paddingMask: m }),
    )
    await checkOp('causal attention', [f(1, 2, 5, 3), f(1, 2, 5, 3), f(1, 2, 5, 3)], (q, k, v) => nn.attention(q, k, v, { causal: true }))
    // (a row whose every key is masked gets a uniform distribution; its analytic gradient is that of
    // the unrounded function, so it is left out of the finite-difference check)
    await checkOp('causal+padding', [f(2, 1, 4, 2), f(2, 1, 4, 2), f(2, 1, 4, 2), ints([2, 4], [1, 1, 1, 0, 1, 1, 1, 1])], (q, k, v, m) =>
      nn.attention(q, k, v, { causal: true, paddingMask: m }),
    )
  })
})

describe('stopGradient', () => {
  it('passes values through and blocks the gradient (d/dx sum(stop(x) * x) = x, not 2x)', async () => {
    const { grad } = await import('./grad.js')
    const { runGraph } = await import('../../test/graph-run.js')
    const x = [0.5, -1.25, 2, 3]
    const out = await runGraph((g) => {
      const t = g.input('x', [4])
      const y = t.stopGradient().mul(t).sum()
      return { y, dx: grad(y, [t])[0]!, same: t.stopGradient() }
    }, { x: { data: Float32Array.from(x), shape: [4], dtype: 'float32' } })
    expect(Array.from(out['dx']!)).toEqual(x)
    expect(Array.from(out['same']!)).toEqual(x)
    expect(out['y']![0]).toBeCloseTo(x.reduce((a, v) => a + v * v, 0), 5)
  })
})
