/**
 * What an imported op sees while it is traced: its node, the opset, its inputs (traced tensors or
 * values known at trace time) and typed attribute readers. Every failure names the op type, the
 * node and the opset, so a user can find it in Netron.
 */
import { OnnxImportError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import { Tensor, type Graph } from '../graph/graph.js'
import { decodeTensor, elemOf, irDType, isFloatElem, type ElemType, type HostValue } from './import-tensor.js'
import { AttrType, type AttributeProtoObj, type NodeProtoObj } from './proto.js'

/** A value while tracing: a graph tensor, or a host value known at trace time. */
export type Value = Tensor | HostValue

export const isTensor = (v: Value): v is Tensor => v instanceof Tensor

/** Converts host values to graph constants once per graph. */
export class Materializer {
  #cache = new Map<HostValue, Tensor>()
  /**
   * `trainBatchNorm`: in training graphs BatchNormalization normalises with batch statistics and
   * updates its running statistics (as torch's train mode); otherwise, and always when evaluating,
   * it is the inference form the file holds.
   */
  constructor(readonly g: Graph, readonly o: { trainBatchNorm?: boolean } = {}) {}
  tensor(v: HostValue): Tensor {
    let t = this.#cache.get(v)
    if (!t) {
      t = v.param ? this.g.param(v.param) : this.g.constant(v.data, v.shape, irDType(v.dtype))
      this.#cache.set(v, t)
    }
    return t
  }
}

export class OpCtx {
  readonly #attrs: Map<string, AttributeProtoObj>
  readonly used = new Set<string>()
  constructor(
    readonly node: NodeProtoObj,
    readonly opset: number,
    readonly inputs: readonly (Value | undefined)[],
    readonly m: Materializer,
  ) {
    this.#attrs = new Map((node.attribute ?? []).map((a) => [a.name, a]))
  }
  get g(): Graph {
    return this.m.g
  }
  get where(): string {
    return `${this.node.opType} node "${this.node.name || this.node.output[0]}" (opset ${this.opset})`
  }
  fail(code: string, msg: string, hint?: string): never {
    throw new OnnxImportError(code, `${this.where}: ${msg}`, hint)
  }
  unsupported(what: string, hint = 're-export the model without it, or open an issue with the model attached'): never {
    this.fail('ONNX_UNSUPPORTED_ATTR', `${what} is not supported`, hint)
  }

  get count(): number {
    return this.inputs.length
  }
  has(i: number): boolean {
    return this.inputs[i] !== undefined
  }
  value(i: number): Value {
    const v = this.inputs[i]
    if (v === undefined) this.fail('ONNX_MISSING_INPUT', `input ${i} is required`)
    return v
  }
  /** Input `i` as a graph tensor. */
  t(i: number): Tensor {
    const v = this.value(i)
    return isTensor(v) ? v : this.m.tensor(v)
  }
  /** Input `i` as a value known at trace time (shapes, axes, scales). */
  c(i: number): HostValue {
    const v = this.value(i)
    if (isTensor(v) || v.param)
      this.fail('ONNX_NOT_CONSTANT', `input ${i} ("${this.node.input[i]}") must be known while tracing (it sets a shape or an axis), but it is computed from the model's inputs or weights`, 'data-dependent shapes cannot be traced to a static graph')
    return v
  }
  /** Input `i` as numbers, or undefined when absent. */
  nums(i: number): number[] | undefined {
    return this.has(i) ? Array.from(this.c(i).data) : undefined
  }
  shape(i: number): readonly number[] {
    return this.value(i).shape
  }
  elem(i: number): ElemType {
    const v = this.value(i)
    return isTensor(v) ? elemOf(v.dtype) : v.dtype
  }
  dtype(i: number): DType {
    return irDType(this.elem(i))
  }
  isFloat(i: number): boolean {
    return isFloatElem(this.elem(i))
  }

  #attr(name: string, type: number): AttributeProtoObj | undefined {
    const a = this.#attrs.get(name)
    this.used.add(name)
    if (!a) return undefined
    if (a.type !== type && a.type !== 0) this.fail('ONNX_ATTR_TYPE', `attribute ${name} has type ${a.type}, expected ${type}`)
    return a
  }
  hasAttr(name: string): boolean {
    this.used.add(name)
    return this.#attrs.has(name)
  }
  int(name: string, def: number): number {
    const a = this.#attr(name, AttrType.INT)
    return a ? Number(a.i) : def
  }
  float(name: string, def: number): number {
    const a = this.#attr(name, AttrType.FLOAT)
    return a ? Number(a.f) : def
  }
  str(name: string, def: string): string {
    const a = this.#attr(name, AttrType.STRING)
    return a?.s ? new TextDecoder().decode(a.s) : def
  }
  ints(name: string): number[] | undefined {
    const a = this.#attr(name, AttrType.INTS)
    return a ? (a.ints ?? []).map(Number) : undefined
  }
  floats(name: string): number[] | undefined {
    const a = this.#attr(name, AttrType.FLOATS)
    return a ? (a.floats ?? []).map(Number) : undefined
  }
  tensorAttr(name: string): HostValue | undefined {
    const a = this.#attr(name, AttrType.TENSOR)
    return a?.t ? decodeTensor(a.t, `${this.where}, attribute ${name}`) : undefined
  }
  /** Attributes present on the node that the op implementation never asked for. */
  unread(): string[] {
    return [...this.#attrs.keys()].filter((k) => !this.used.has(k))
  }
}
