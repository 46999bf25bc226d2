/**
 * The browser-safe text data API in one place (Node file access: source-node.ts and
 * spam-assassin-node.ts).
 */
export { BadRows, DataRowError, formatPosition, mergeReports, type BadRowReport, type DataPosition, type OnBadRow, type SkippedRow } from './errors.js'
export { blobSource, bytesSource, recordsSource, type DataSource } from './source.js'
export { DATA_FORMATS, FORMAT_BY_EXTENSION, formatFromName, readRecords, type DataFormat, type DataRecord, type ReadOptions, type TableOptions } from './table.js'
export { buildRowIndex, deserializeRowIndex, RowReader, serializeRowIndex, type RowIndex } from './row-index.js'
export { resolveColumns, TEXT_TASKS, type ColumnOptions, type ResolvedColumns, type TextTask } from './columns.js'
export { buildLabelMap, encodeLabel, labelNames, LabelCollector, type LabelMap, type LabelScheme, type ProblemType } from './labels.js'
export {
  loadTextData,
  TextSplit,
  type CausalLmExample,
  type ExampleFor,
  type TextClassificationExample,
  type TextDataOptions,
  type TextDataset,
  type TokenClassificationExample,
} from './dataset.js'
export { bucketBatches, bucketLength, epochOrder, splitTrainValidation, type Batch, type BucketBatchOptions, type BucketScheme, type Split, type SplitOptions } from './order.js'
export { quoteField } from './csv.js'
export { emailToText, parseEmail, SPAM_ASSASSIN_GROUPS, type SpamAssassinGroup, type SpamAssassinLabel, type SpamAssassinRecord } from './spam-assassin.js'
