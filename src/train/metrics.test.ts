import { describe, expect, it } from 'vitest'
import { chunks, classificationMetrics, entityMetrics, multiLabelMetrics, perplexity, regressionMetrics } from './metrics.js'

describe('metrics', () => {
  it('classification: accuracy, macro and per-class scores as sklearn computes them', () => {
    // sklearn: precision_recall_fscore_support([0,1,2,2,1,0], [0,2,2,2,1,1]) (gold first)
    const m = classificationMetrics([0, 2, 2, 2, 1, 1], [0, 1, 2, 2, 1, 0], ['a', 'b', 'c'])
    expect(m.accuracy).toBeCloseTo(4 / 6, 10)
    expect(m.per_class['a']).toEqual({ precision: 1, recall: 0.5, f1: 2 / 3, support: 2 })
    expect(m.per_class['b']!.precision).toBeCloseTo(0.5, 10)
    expect(m.per_class['c']!.precision).toBeCloseTo(2 / 3, 10)
    expect(m.per_class['c']!.recall).toBe(1)
    expect(m.macro_f1).toBeCloseTo((2 / 3 + 0.5 + 0.8) / 3, 10)
  })
  it('a class never predicted and never seen scores 0 without NaN', () => {
    const m = classificationMetrics([0, 0], [0, 0], ['a', 'b'])
    expect(m.per_class['b']).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 })
    expect(Number.isNaN(m.macro_f1)).toBe(false)
  })
  it('multi-label micro/macro F1 and subset accuracy', () => {
    const m = multiLabelMetrics([1, 0, 1, 1, 1, 0], [1, 0, 0, 1, 1, 0], ['x', 'y'])
    expect(m.subset_accuracy).toBeCloseTo(2 / 3, 10)
    expect(m.micro_f1).toBeCloseTo(2 * 0.75 * 1 / 1.75, 10)
  })
  it('regression', () => {
    const r = regressionMetrics([1, 2, 3], [1, 2, 5])
    expect(r.mse).toBeCloseTo(4 / 3, 10)
    expect(r.mae).toBeCloseTo(2 / 3, 10)
    expect(r.pearson).toBeGreaterThan(0.9)
  })
  it('entity chunks follow the conlleval rules for IOB1, IOB2 and stray I- tags', () => {
    expect(chunks(['B-PER', 'I-PER', 'O', 'B-LOC'])).toEqual([{ type: 'PER', start: 0, end: 2 }, { type: 'LOC', start: 3, end: 4 }])
    expect(chunks(['I-PER', 'I-PER', 'I-LOC'])).toEqual([{ type: 'PER', start: 0, end: 2 }, { type: 'LOC', start: 2, end: 3 }])
    expect(chunks(['B-PER', 'B-PER'])).toEqual([{ type: 'PER', start: 0, end: 1 }, { type: 'PER', start: 1, end: 2 }])
  })
  it('entity-level F1 counts exact spans only (seqeval example)', () => {
    // seqeval docs: y_true [['O','O','O','B-MISC','I-MISC','I-MISC','O'],['B-PER','I-PER','O']]
    //               y_pred [['O','O','B-MISC','I-MISC','I-MISC','I-MISC','O'],['B-PER','I-PER','O']] -> f1 0.5
    const m = entityMetrics([['O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']], [['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']])
    expect(m.f1).toBeCloseTo(0.5, 10)
    expect(m.per_type['PER']!.f1).toBe(1)
    expect(m.per_type['MISC']!.f1).toBe(0)
  })
  it('perplexity is exp of the mean token loss', () => expect(perplexity(Math.log(20))).toBeCloseTo(20, 10))
})
