import { fail, isObject, type Json, type JsonObject } from './errors.js'
import { Tokenizer, type TokenizerSpec } from './tokenizer.js'

/** Contents of the tokenizer files of a Hugging Face checkpoint folder, as strings. */
export interface TokenizerFiles {
  tokenizerJson?: string
  tokenizerConfigJson?: string
  specialTokensMapJson?: string
  /** BERT-style WordPiece vocabulary, one token per line. */
  vocabTxt?: string
  /** GPT-2/RoBERTa byte-level BPE vocabulary (token -> id). */
  vocabJson?: string
  mergesTxt?: string
}

/** Which post-processing legacy BPE files get: GPT-2 adds nothing, RoBERTa adds <s> ... </s>. */
export type TokenizerKind = 'bert' | 'gpt2' | 'roberta'

export interface LoadTokenizerOptions {
  /** Overrides tokenizer_config.json's tokenizer_class when building from legacy files. */
  kind?: TokenizerKind
}

/**
 * Builds a tokenizer from checkpoint files. tokenizer.json is used when present; otherwise
 * vocab.txt gives a BERT WordPiece tokenizer and vocab.json + merges.txt a GPT-2 or RoBERTa
 * byte-level BPE tokenizer, configured the way transformers converts them.
 */
export function loadTokenizer(files: TokenizerFiles, options: LoadTokenizerOptions = {}): Tokenizer {
  const config = files.tokenizerConfigJson !== undefined ? parseObject(files.tokenizerConfigJson, 'tokenizer_config.json') : {}
  const specialTokensMap = files.specialTokensMapJson !== undefined ? parseObject(files.specialTokensMapJson, 'special_tokens_map.json') : {}
  let tokenizerJson: JsonObject
  if (files.tokenizerJson !== undefined) tokenizerJson = parseObject(files.tokenizerJson, 'tokenizer.json')
  else {
    const kind = options.kind ?? kindOf(config)
    if (files.vocabTxt !== undefined) {
      if (kind === 'gpt2' || kind === 'roberta')
        fail('TOKENIZER_KIND_MISMATCH', 'vocab.txt', `a WordPiece vocabulary cannot make a ${kind} tokenizer`, 'GPT-2 and RoBERTa use vocab.json + merges.txt; drop the kind option or supply those files')
      tokenizerJson = fromVocabTxt(files.vocabTxt, config, specialTokensMap)
    } else if (files.vocabJson !== undefined) {
      if (files.mergesTxt === undefined)
        return fail('TOKENIZER_MISSING_FILE', 'merges.txt', 'vocab.json is present but merges.txt is missing; a BPE tokenizer needs both', 'copy merges.txt from the checkpoint folder, or provide tokenizer.json')
      if (kind === 'bert') fail('TOKENIZER_KIND_MISMATCH', 'vocab.json', 'a byte-level BPE vocabulary cannot make a bert tokenizer', 'BERT uses vocab.txt')
      tokenizerJson = fromBpeFiles(files.vocabJson, files.mergesTxt, kind, config)
    } else {
      return fail(
        'TOKENIZER_MISSING_VOCAB',
        'tokenizer files',
        'found no vocabulary: none of tokenizer.json, vocab.txt, or vocab.json + merges.txt was given',
        'point finetune at a checkpoint folder that contains tokenizer.json (sentencepiece-only folders need converting with transformers first: AutoTokenizer.from_pretrained(...).save_pretrained(...))',
      )
    }
    // transformers picks the tokenizer class from this field when it loads the folder again
    if (config['tokenizer_class'] === undefined) {
      const post = tokenizerJson['post_processor']
      const roberta = isObject(post) && post['type'] === 'RobertaProcessing'
      config['tokenizer_class'] = files.vocabTxt !== undefined ? 'BertTokenizer' : roberta ? 'RobertaTokenizer' : 'GPT2Tokenizer'
    }
  }
  const spec: TokenizerSpec = { tokenizerJson, config, specialTokensMap }
  return new Tokenizer(spec)
}

function parseObject(text: string, file: string): JsonObject {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    return fail('TOKENIZER_BAD_JSON', file, `is not valid JSON (${(e as Error).message})`, 'the file may be truncated; download it again')
  }
  if (!isObject(v)) return fail('TOKENIZER_BAD_JSON', file, 'should hold a JSON object')
  return v
}

/** The legacy-file kind named by tokenizer_config.json, if any. */
function kindOf(config: JsonObject): TokenizerKind | undefined {
  const cls = config['tokenizer_class']
  if (typeof cls !== 'string') return undefined
  if (/roberta|bart|longformer|camembert/i.test(cls)) return 'roberta'
  if (/gpt2|gpt_neo|gptneo|codegen/i.test(cls)) return 'gpt2'
  if (/bert|electra|funnel|lxmert|mpnet|squeezebert|layoutlm/i.test(cls)) return 'bert'
  return undefined
}

const special = (config: JsonObject, role: string, dflt: string): string => {
  const v = config[role]
  if (typeof v === 'string') return v
  if (isObject(v) && typeof v['content'] === 'string') return v['content']
  return dflt
}

const addedToken = (id: number, content: string, extra: { lstrip?: boolean } = {}): Json => ({
  id,
  content,
  single_word: false,
  lstrip: extra.lstrip ?? false,
  rstrip: false,
  normalized: false,
  special: true,
})

// transformers' BertConverter
function fromVocabTxt(text: string, config: JsonObject, map: JsonObject): JsonObject {
  const vocab: Record<string, number> = {}
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  lines.forEach((line, i) => {
    vocab[line.replace(/\r$/, '')] = i
  })
  const merged = { ...map, ...config }
  const roles: Array<[string, string]> = [
    ['pad_token', '[PAD]'],
    ['unk_token', '[UNK]'],
    ['cls_token', '[CLS]'],
    ['sep_token', '[SEP]'],
    ['mask_token', '[MASK]'],
  ]
  const tokens = Object.fromEntries(roles.map(([r, d]) => [r, special(merged, r, d)]))
  for (const [r] of roles) if (config[r] === undefined) config[r] = tokens[r]!
  const unk = tokens['unk_token']!
  if (vocab[unk] === undefined) fail('TOKENIZER_BAD_VOCAB', 'vocab.txt', `has no ${unk} entry for unknown words`, 'a BERT vocabulary needs [UNK]; set unk_token in tokenizer_config.json if it is spelled differently')
  const cls = tokens['cls_token']!
  const sep = tokens['sep_token']!
  for (const t of [cls, sep]) if (vocab[t] === undefined) fail('TOKENIZER_BAD_VOCAB', 'vocab.txt', `has no ${t} entry`, 'set cls_token / sep_token in tokenizer_config.json to the tokens this vocabulary uses')
  const lower = config['do_lower_case'] !== false
  const stripAccents = typeof config['strip_accents'] === 'boolean' ? config['strip_accents'] : null
  const chinese = config['tokenize_chinese_chars'] !== false
  const seq = (id: string, typeId: number): Json => ({ Sequence: { id, type_id: typeId } })
  const sp = (id: string, typeId: number): Json => ({ SpecialToken: { id, type_id: typeId } })
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: roles.map(([r]) => tokens[r]!).filter((t) => vocab[t] !== undefined).map((t) => addedToken(vocab[t]!, t)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: chinese, strip_accents: stripAccents, lowercase: lower },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [sp(cls, 0), seq('A', 0), sp(sep, 0)],
      pair: [sp(cls, 0), seq('A', 0), sp(sep, 0), seq('B', 1), sp(sep, 1)],
      special_tokens: {
        [cls]: { id: cls, ids: [vocab[cls]!], tokens: [cls] },
        [sep]: { id: sep, ids: [vocab[sep]!], tokens: [sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: unk, continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  }
}

// transformers' GPT2Converter and RobertaConverter
function fromBpeFiles(vocabText: string, mergesText: string, kind: TokenizerKind | undefined, config: JsonObject): JsonObject {
  const vocab = parseObject(vocabText, 'vocab.json')
  for (const [k, v] of Object.entries(vocab)) if (typeof v !== 'number') fail('TOKENIZER_BAD_VOCAB', 'vocab.json', `id of ${JSON.stringify(k)} is not a number`)
  const merges: Json[] = []
  mergesText.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '')
    if (line === '' || (i === 0 && line.startsWith('#version'))) return
    const parts = line.split(' ')
    if (parts.length !== 2) fail('TOKENIZER_BAD_MERGES', `merges.txt line ${i + 1}`, `${JSON.stringify(line)} is not two tokens separated by one space`)
    merges.push(parts)
  })
  const has = (t: string): boolean => typeof vocab[t] === 'number'
  const roberta = kind === 'roberta' || (kind === undefined && has('<s>') && has('</s>'))
  const addPrefixSpace = config['add_prefix_space'] === true
  const byteLevel = { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true }
  let added: Json[]
  let post: Json
  if (roberta) {
    const roles: Array<[string, string]> = [
      ['bos_token', '<s>'],
      ['eos_token', '</s>'],
      ['sep_token', '</s>'],
      ['cls_token', '<s>'],
      ['unk_token', '<unk>'],
      ['pad_token', '<pad>'],
      ['mask_token', '<mask>'],
    ]
    for (const [r, d] of roles) if (config[r] === undefined && has(d)) config[r] = d
    const cls = special(config, 'cls_token', '<s>')
    const sep = special(config, 'sep_token', '</s>')
    for (const t of [cls, sep]) if (!has(t)) fail('TOKENIZER_BAD_VOCAB', 'vocab.json', `has no ${t} entry, which RoBERTa's post-processing needs`, "pass kind 'gpt2' if this is a GPT-2 style vocabulary")
    const mask = special(config, 'mask_token', '<mask>')
    const names = [...new Set(roles.map(([r]) => special(config, r, '')))].filter((t) => t !== '' && has(t))
    added = names.map((t) => addedToken(vocab[t] as number, t, { lstrip: t === mask }))
    post = { type: 'RobertaProcessing', sep: [sep, vocab[sep] as number], cls: [cls, vocab[cls] as number], trim_offsets: true, add_prefix_space: addPrefixSpace }
  } else {
    for (const r of ['bos_token', 'eos_token', 'unk_token']) if (config[r] === undefined && has('<|endoftext|>')) config[r] = '<|endoftext|>'
    const names = [...new Set(['bos_token', 'eos_token', 'unk_token', 'pad_token'].map((r) => special(config, r, '')))].filter((t) => t !== '' && has(t))
    added = names.map((t) => addedToken(vocab[t] as number, t))
    post = { ...byteLevel, trim_offsets: false }
  }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: post,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  }
}
