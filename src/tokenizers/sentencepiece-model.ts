/**
 * SentencePiece model files (`spiece.model`, Marian's `source.spm` / `target.spm`): the ModelProto
 * of sentencepiece_model.proto (https://github.com/google/sentencepiece/blob/master/src/sentencepiece_model.proto),
 * declared here as the subset of fields finetune reads, through protobufjs reflection. Unknown
 * fields (self-test data, the denormalizer) are skipped by the decoder.
 */
import protobuf from 'protobufjs'
import { fail } from './errors.js'

const f = (id: number, type: string, extra: Record<string, unknown> = {}): protobuf.IField => ({ id, type, ...extra } as protobuf.IField)
// edition proto2: explicit presence, so a stored false is not mistaken for an absent field (default true)
const root = protobuf.Root.fromJSON({
  nested: {
    sentencepiece: {
      nested: {
        TrainerSpec: {
          edition: 'proto2',
          fields: {
            model_type: f(3, 'int32', { options: { default: 1 } }),
            vocab_size: f(4, 'int32'),
            split_by_whitespace: f(22, 'bool', { options: { default: true } }),
            treat_whitespace_as_suffix: f(24, 'bool'),
            byte_fallback: f(35, 'bool'),
            unk_id: f(40, 'int32', { options: { default: 0 } }),
            bos_id: f(41, 'int32', { options: { default: 1 } }),
            eos_id: f(42, 'int32', { options: { default: 2 } }),
            pad_id: f(43, 'int32', { options: { default: -1 } }),
            unk_surface: f(44, 'string', { options: { default: ' \u2047 ' } }),
          },
        },
        NormalizerSpec: {
          edition: 'proto2',
          fields: {
            name: f(1, 'string'),
            precompiled_charsmap: f(2, 'bytes'),
            add_dummy_prefix: f(3, 'bool', { options: { default: true } }),
            remove_extra_whitespaces: f(4, 'bool', { options: { default: true } }),
            escape_whitespaces: f(5, 'bool', { options: { default: true } }),
          },
        },
        SentencePiece: { edition: 'proto2', fields: { piece: f(1, 'string'), score: f(2, 'float'), type: f(3, 'int32', { options: { default: 1 } }) } },
        ModelProto: {
          edition: 'proto2',
          fields: {
            pieces: f(1, 'SentencePiece', { rule: 'repeated' }),
            trainer_spec: f(2, 'TrainerSpec'),
            normalizer_spec: f(3, 'NormalizerSpec'),
          },
        },
      },
    },
  },
})
const ModelProto = root.lookupType('sentencepiece.ModelProto')

/** SentencePiece's piece types (ModelProto.SentencePiece.Type). */
export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const

export interface SentencePiece {
  piece: string
  /** float32, as stored. */
  score: number
  type: number
}

export interface SentencePieceModel {
  pieces: SentencePiece[]
  modelType: 'unigram' | 'bpe' | 'word' | 'char'
  byteFallback: boolean
  treatWhitespaceAsSuffix: boolean
  unkId: number
  bosId: number
  eosId: number
  padId: number
  unkSurface: string
  normalizer: {
    name: string
    /** The normalization table; empty for the identity rule. */
    precompiledCharsmap: Uint8Array
    addDummyPrefix: boolean
    removeExtraWhitespaces: boolean
    escapeWhitespaces: boolean
  }
}

const MODEL_TYPES = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' } as const

/** Decodes a .model file. `name` is used in error messages. */
export function parseSentencePieceModel(bytes: Uint8Array, name = 'spiece.model'): SentencePieceModel {
  let m: Record<string, unknown>
  try {
    m = ModelProto.toObject(ModelProto.decode(bytes), { defaults: true }) as Record<string, unknown>
  } catch (e) {
    return fail('TOKENIZER_BAD_SPM', name, `is not a SentencePiece model (${(e as Error).message})`, 'point at the .model/.spm file written by spm_train or shipped with the checkpoint')
  }
  const pieces = (m['pieces'] as SentencePiece[] | undefined) ?? []
  if (pieces.length === 0) fail('TOKENIZER_BAD_SPM', name, 'has no pieces', 'the file may be truncated or not a SentencePiece model; download it again')
  const t = (m['trainer_spec'] ?? {}) as Record<string, unknown>
  const n = (m['normalizer_spec'] ?? {}) as Record<string, unknown>
  const mt = (t['model_type'] as number | undefined) ?? 1
  const modelType = MODEL_TYPES[mt as keyof typeof MODEL_TYPES]
  if (modelType === undefined) fail('TOKENIZER_BAD_SPM', name, `has model_type ${mt}`, 'known types: 1 unigram, 2 bpe, 3 word, 4 char')
  return {
    pieces: pieces.map((p) => ({ piece: p.piece, score: p.score, type: p.type })),
    modelType,
    byteFallback: (t['byte_fallback'] as boolean | undefined) ?? false,
    treatWhitespaceAsSuffix: (t['treat_whitespace_as_suffix'] as boolean | undefined) ?? false,
    unkId: (t['unk_id'] as number | undefined) ?? 0,
    bosId: (t['bos_id'] as number | undefined) ?? 1,
    eosId: (t['eos_id'] as number | undefined) ?? 2,
    padId: (t['pad_id'] as number | undefined) ?? -1,
    unkSurface: (t['unk_surface'] as string | undefined) ?? ' \u2047 ',
    normalizer: {
      name: (n['name'] as string | undefined) ?? '',
      precompiledCharsmap: (n['precompiled_charsmap'] as Uint8Array | undefined) ?? new Uint8Array(0),
      addDummyPrefix: (n['add_dummy_prefix'] as boolean | undefined) ?? true,
      removeExtraWhitespaces: (n['remove_extra_whitespaces'] as boolean | undefined) ?? true,
      escapeWhitespaces: (n['escape_whitespaces'] as boolean | undefined) ?? true,
    },
  }
}
