#!/usr/bin/python3
"""Builds the tokenizer fixtures under test/fixtures/tokenizers/ and their golden files.

Run by hand with Debian's Python:  /usr/bin/python3 scripts/gen_tokenizer_fixtures.py

What it makes, all deterministic from text that ships with Debian (the common licenses and the
docstrings of a fixed list of standard-library modules) plus a short multilingual paragraph:

  wordpiece/      BERT-style WordPiece vocab (~2.5k entries) learned by a small counting trainer
  bpe/            GPT-2-style byte-level BPE (~900 merges) learned by a small BPE trainer
  bpe-roberta/    the same merges with RoBERTa's special tokens and post-processing
  unigram/        a sentencepiece unigram model (sentencepiece's own trainer), T5-style specials

Each folder holds the legacy files (vocab.txt | vocab.json + merges.txt | spiece.model), the same
tokenizer written in Hugging Face's tokenizer.json format, tokenizer_config.json,
special_tokens_map.json, and golden.json with the reference outputs for strings.json.
variants.json holds reference outputs for more tokenizer.json components (other normalizers,
pre-tokenizers and post-processors) applied to the same vocabularies.

References:
  * sentencepiece (apt-get install -y python3-sentencepiece) gives the unigram ids.
  * Hugging Face's own Rust tokenizers, through its Node binding (npm package `tokenizers`, a
    prebuilt native module), gives ids, tokens, offsets, word ids, type ids, special-token
    templates, truncation, padding and decoding for every fixture, both from tokenizer.json and
    from a tokenizer assembled from the legacy files. Install it outside the repository:
        npm install --prefix /tmp/tokref tokenizers@0.23.2
    and point TOKREF at that folder if it is elsewhere.
  * torchtext 0.14's BERTTokenizer / GPT2BPETokenizer would be the natural Python references, but
    Debian's python3-torchtext 0.14.1-2 ships its C++ extension as an empty stub (importing
    torchtext fails with "dynamic module does not define module export function"), so they
    cannot run here; the script uses them when they import and cross-checks their ids.

Where sentencepiece and tokenizers disagree on the unigram fixture the reason is recorded in
golden.json "notes" (special-token text; exact score ties that float32 and float64 break apart).
Note that tokenizers 0.23 stops tokenizing a sequence early once it holds max_length tokens when
truncation is on; the truncation goldens carry that behaviour.
"""
from __future__ import annotations

import ast
import collections
import glob
import json
import os
import subprocess
import sys
import unicodedata

import regex

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'tokenizers')
TOKREF = os.environ.get('TOKREF', '/tmp/tokref')

# ---------------------------------------------------------------------------------------------
# Strings every fixture is checked on. Order matters: tests refer to them by index in golden.json.
STRINGS = [
    'Hello, world!',
    'The quick brown fox jumps over the lazy dog.',
    '',
    ' ',
    '   ',
    '   leading and trailing spaces   ',
    'multiple     spaces\tand\ttabs\nand\nnewlines\r\n',
    'café naïve résumé façade',
    'CAFÉ NAÏVE Ünïcödé',
    'decomposed cafe\u0301 and nai\u0308ve',
    'stacked a\u0300\u0316 combining marks',
    '日本語のテキストです',
    '中文分词测试',
    '한국어 텍스트',
    'emoji 😀 and 👍🏽 skin tone',
    'family 👨\u200d👩\u200d👧\u200d👦 ZWJ sequence',
    'flags 🇩🇪🇯🇵 and 🏳️\u200d🌈',
    'newer emoji 🥰 🫠',
    'مرحبا بالعالم',
    'שָׁלוֹם עולם',
    'control\u0000chars\u0007here\u001b[0m',
    'zero\u200bwidth\u200djoiner\ufeffbom',
    'soft\u00adhyphen and non\u00a0breaking space',
    "don't I'll we're they've she'd it's",
    "DON'T I'LL WE'RE",
    'numbers 12345 3.14159 1,000,000 -42 +7e10',
    'punctuation!!! ??? ... --- (parens) [brackets] {braces} <angle>',
    'email@example.com https://example.org/path?q=1&r=2#frag',
    'supercalifragilisticexpialidocious',
    'pneumonoultramicroscopicsilicovolcanoconiosis' * 3,
    'ab' * 60,
    'def tokenize(text: str) -> list[str]:\n    return text.split()',
    'Mixed CASE and camelCaseWords and snake_case_words',
    'Ελληνικά ΟΔΟΣ',
    'Привет, мир!',
    'İstanbul ß straße ﬁ ligature',
    'fullwidth ＡＢＣ１２３ and half-width ｶﾀｶﾅ',
    'math ∑ ∫ √ ≠ ≤ ∞ and symbols © ® ™ € £ ¥',
    'tab\tseparated\tvalues',
    'line1\nline2\n\nline4',
    'trailing newline\n',
    '\t leading tab',
    '$100 for 3 items @ 50% off #deal',
    'नमस्ते दुनिया',
    'สวัสดีชาวโลก',
    'private use \ue000 and unassigned \u0378 here',
    'ideographic\u3000space and line\u2028separator',
    'next\u0085line',
    'The license grants you the freedom to share and change the program.',
    '[CLS] literal [SEP] special tokens [MASK] in text',
    '<s>literal</s> roberta <mask> and <|endoftext|> tokens',
    'a',
]

PAIRS = [
    ['Hello, world!', 'The quick brown fox jumps over the lazy dog.'],
    ["don't I'll", 'café naïve'],
    ['', 'only the second'],
    ['only the first', ''],
    ['The license grants you the freedom to share and change the program.', 'a'],
]

# (pair index, max_length) combinations; each runs for every strategy.
TRUNCATIONS = [(0, 8), (0, 12), (0, 5), (1, 7), (4, 9), (4, 4), (2, 6)]
SINGLE_TRUNCATIONS = [(0, 4), (1, 3), (48, 10)]  # (string index, max_length)

# Other tokenizer.json components, each a base fixture with some fields replaced; checked against
# the reference on every string (test/fixtures/tokenizers/variants.json).
VARIANTS = [
    ['wordpiece', 'nfkc-lowercase-whitespace-digits', {
        'normalizer': {'type': 'Sequence', 'normalizers': [{'type': 'NFKC'}, {'type': 'Lowercase'}]},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Whitespace'}, {'type': 'Digits', 'individual_digits': True}]}}],
    ['wordpiece', 'cased-strip-accents-punctuation-contiguous', {
        'normalizer': {'type': 'BertNormalizer', 'clean_text': True, 'handle_chinese_chars': False,
                       'strip_accents': True, 'lowercase': False},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'WhitespaceSplit'}, {'type': 'Punctuation', 'behavior': 'Contiguous'}]}}],
    ['wordpiece', 'nfd-stripaccents-split-regex', {
        'normalizer': {'type': 'Sequence', 'normalizers': [{'type': 'NFD'}, {'type': 'StripAccents'}, {'type': 'Lowercase'}]},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': r'\s+'}, 'behavior': 'Removed', 'invert': False},
            {'type': 'Split', 'pattern': {'Regex': r'\w+'}, 'behavior': 'Isolated', 'invert': True},
            {'type': 'CharDelimiterSplit', 'delimiter': '-'}]},
        'decoder': {'type': 'WordPiece', 'prefix': '##', 'cleanup': False}}],
    ['bpe', 'byte-level-prefix-space', {
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'post_processor': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True}}],
    ['bpe-roberta', 'roberta-prefix-space', {
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'post_processor': {'type': 'RobertaProcessing', 'sep': ['</s>', 2], 'cls': ['<s>', 0],
                           'trim_offsets': True, 'add_prefix_space': True}}],
    ['unigram', 'metaspace-first-collapse-spaces', {
        'normalizer': {'type': 'Sequence', 'normalizers': [
            {'type': 'Strip', 'strip_left': True, 'strip_right': True},
            {'type': 'Replace', 'pattern': {'Regex': ' {2,}'}, 'content': ' '}]},
        'pre_tokenizer': {'type': 'Metaspace', 'replacement': '▁', 'prepend_scheme': 'first', 'split': True}}],
]

CORPUS_EXTRA = """
Le café est très bon. Une idée naïve: le résumé de la façade. Çà et là, où êtes-vous?
Die Straße ist groß und schön. Über alle Gipfel ist Ruh. Ärger, Öl, Übung.
El niño está en la montaña. ¿Dónde está la biblioteca? ¡Qué bien!
日本語のテキストです。東京は日本の首都です。中文分词测试。我们学习中文。
한국어 텍스트입니다. 안녕하세요.
Привет, мир! Как дела? Москва — столица России.
Ελληνικά γράμματα. Καλημέρα κόσμε.
مرحبا بالعالم. שלום עולם.
नमस्ते दुनिया। สวัสดีชาวโลก
Smileys 😀 😀 👍 👍 are emoji; numbers like 2023, 3.14 and 1,000 appear too.
"""

# ---------------------------------------------------------------------------------------------
# Corpus


def corpus_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(glob.glob('/usr/share/common-licenses/*')):
        if os.path.isfile(path):
            with open(path, encoding='utf-8', errors='replace') as f:
                lines += f.read().splitlines()
    modules = ['argparse', 'collections/__init__', 'csv', 'datetime', 'difflib', 'email/message',
               'fractions', 'functools', 'heapq', 'inspect', 'json/__init__', 'logging/__init__',
               'pathlib', 'pickle', 'random', 'shutil', 'statistics', 'string', 'subprocess',
               'tarfile', 'textwrap', 'threading', 'typing', 'unittest/case', 'zipfile']
    for mod in modules:
        path = f'/usr/lib/python3.11/{mod}.py'
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    lines += doc.splitlines()
    lines += CORPUS_EXTRA.strip().splitlines() * 3
    return [l.strip() for l in lines if l.strip()]


# ---------------------------------------------------------------------------------------------
# WordPiece: a counting trainer (whole words, word starts and ##suffixes by frequency)


def bert_basic_split(text: str) -> list[str]:
    text = unicodedata.normalize('NFD', text.lower())
    text = ''.join(c for c in text if unicodedata.category(c) != 'Mn')
    out, cur = [], []
    for c in text:
        cp = ord(c)
        cjk = 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF
        if c.isspace() or unicodedata.category(c).startswith('C'):
            if cur: out.append(''.join(cur)); cur = []
        elif unicodedata.category(c).startswith('P') or (c.isascii() and not c.isalnum()) or cjk:
            if cur: out.append(''.join(cur)); cur = []
            out.append(c)
        else:
            cur.append(c)
    if cur: out.append(''.join(cur))
    return out


def train_wordpiece(lines: list[str]) -> list[str]:
    words = collections.Counter(w for l in lines for w in bert_basic_split(l))
    chars = collections.Counter()
    for w, n in words.items():
        for c in w:
            chars[c] += n
    alphabet = sorted(c for c, n in chars.items() if n >= 3)
    vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + [f'[unused{i}]' for i in range(5)]
    vocab += alphabet + ['##' + c for c in alphabet]
    starts, suffixes = collections.Counter(), collections.Counter()
    for w, n in words.items():
        if len(w) < 4 or not w.isalpha():
            continue
        for k in range(2, min(5, len(w) - 1) + 1):
            starts[w[:k]] += n
            suffixes['##' + w[-k:]] += n
    seen = set(vocab)

    def take(counter, k, min_count):
        got = 0
        for tok, n in sorted(counter.items(), key=lambda t: (-t[1], t[0])):
            if got >= k or n < min_count:
                break
            if tok not in seen and len(tok) > 1:
                vocab.append(tok); seen.add(tok); got += 1

    take(words, 1400, 3)
    take(starts, 350, 5)
    take(suffixes, 350, 5)
    return vocab


# ---------------------------------------------------------------------------------------------
# Byte-level BPE: GPT-2's pre-tokenizer regex and byte-to-unicode table, classic merge learning

GPT2_PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))


def train_bpe(lines: list[str], num_merges: int) -> tuple[list[str], list[tuple[str, str]]]:
    b2u = bytes_to_unicode()
    counts = collections.Counter()
    for l in lines:
        for piece in GPT2_PAT.findall(l + '\n'):
            counts[''.join(b2u[b] for b in piece.encode('utf-8'))] += 1
    words = [list(w) for w in counts]
    freq = [counts[w] for w in counts]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freq[i]; where[(a, b)].add(i)
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        if not pairs:
            break
        # most frequent pair; ties broken by the pair itself so the result is deterministic
        best = min(pairs.items(), key=lambda t: (-t[1], t[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        a, b = best
        for i in sorted(where.pop(best, ())):
            w = words[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= freq[i]
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
            j, nw = 0, []
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    nw.append(a + b); j += 2
                else:
                    nw.append(w[j]); j += 1
            words[i] = nw
            for x, y in zip(nw, nw[1:]):
                pairs[(x, y)] += freq[i]; where[(x, y)].add(i)
        pairs.pop(best, None)
    alphabet = [b2u[b] for b in sorted(b2u, key=lambda b: ord(b2u[b]))]
    return alphabet + [a + b for a, b in merges], merges


# ---------------------------------------------------------------------------------------------
# Writers for Hugging Face's formats


def added(id_: int, content: str, special=True, lstrip=False, normalized=False) -> dict:
    return {'id': id_, 'content': content, 'single_word': False, 'lstrip': lstrip, 'rstrip': False,
            'normalized': normalized, 'special': special}


def write(folder: str, name: str, data, indent: int | None = 2) -> None:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    if isinstance(data, (bytes, bytearray)):
        with open(path, 'wb') as f:
            f.write(data)
    elif isinstance(data, str):
        with open(path, 'w', encoding='utf-8', newline='') as f:
            f.write(data)
    else:
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(data, f, ensure_ascii=False, indent=indent, separators=None if indent else (',', ':'))
            f.write('\n')


def make_wordpiece(lines: list[str]) -> None:
    vocab = train_wordpiece(lines)
    d = os.path.join(OUT, 'wordpiece')
    write(d, 'vocab.txt', ''.join(t + '\n' for t in vocab))
    ids = {t: i for i, t in enumerate(vocab)}
    tok = {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added(ids[t], t) for t in ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']],
        'normalizer': {'type': 'BertNormalizer', 'clean_text': True, 'handle_chinese_chars': True,
                       'strip_accents': None, 'lowercase': True},
        'pre_tokenizer': {'type': 'BertPreTokenizer'},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': '[CLS]', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                       {'SpecialToken': {'id': '[SEP]', 'type_id': 0}}],
            'pair': [{'SpecialToken': {'id': '[CLS]', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                     {'SpecialToken': {'id': '[SEP]', 'type_id': 0}}, {'Sequence': {'id': 'B', 'type_id': 1}},
                     {'SpecialToken': {'id': '[SEP]', 'type_id': 1}}],
            'special_tokens': {t: {'id': t, 'ids': [ids[t]], 'tokens': [t]} for t in ['[CLS]', '[SEP]']},
        },
        'decoder': {'type': 'WordPiece', 'prefix': '##', 'cleanup': True},
        'model': {'type': 'WordPiece', 'unk_token': '[UNK]', 'continuing_subword_prefix': '##',
                  'max_input_chars_per_word': 100, 'vocab': ids},
    }
    write(d, 'tokenizer.json', tok)
    specials = {'unk_token': '[UNK]', 'sep_token': '[SEP]', 'pad_token': '[PAD]', 'cls_token': '[CLS]',
                'mask_token': '[MASK]'}
    write(d, 'tokenizer_config.json', {'tokenizer_class': 'BertTokenizer', 'do_lower_case': True,
                                       'model_max_length': 512, 'clean_up_tokenization_spaces': True,
                                       **specials})
    write(d, 'special_tokens_map.json', specials)


def make_bpe(lines: list[str]) -> None:
    tokens, merges = train_bpe(lines, 900)
    merges_txt = '#version: 0.2\n' + ''.join(f'{a} {b}\n' for a, b in merges)
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True}

    def model(vocab):
        return {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '',
                'end_of_word_suffix': '', 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                'vocab': vocab, 'merges': [[a, b] for a, b in merges]}

    # GPT-2: bytes and merges first, <|endoftext|> last; no special tokens around sequences
    vocab = {t: i for i, t in enumerate(tokens + ['<|endoftext|>'])}
    d = os.path.join(OUT, 'bpe')
    write(d, 'vocab.json', json.dumps(vocab, ensure_ascii=False))
    write(d, 'merges.txt', merges_txt)
    write(d, 'tokenizer.json', {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added(vocab['<|endoftext|>'], '<|endoftext|>', normalized=True)],
        'normalizer': None, 'pre_tokenizer': byte_level,
        'post_processor': {**byte_level, 'trim_offsets': False},
        'decoder': byte_level, 'model': model(vocab)})
    specials = {'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>', 'unk_token': '<|endoftext|>'}
    write(d, 'tokenizer_config.json', {'tokenizer_class': 'GPT2Tokenizer', 'model_max_length': 1024,
                                       'add_prefix_space': False, 'clean_up_tokenization_spaces': False,
                                       **specials})
    write(d, 'special_tokens_map.json', specials)

    # RoBERTa: <s> <pad> </s> <unk> first, <mask> last; <s> A </s></s> B </s>
    head = ['<s>', '<pad>', '</s>', '<unk>']
    vocab = {t: i for i, t in enumerate(head + tokens + ['<mask>'])}
    d = os.path.join(OUT, 'bpe-roberta')
    write(d, 'vocab.json', json.dumps(vocab, ensure_ascii=False))
    write(d, 'merges.txt', merges_txt)
    write(d, 'tokenizer.json', {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added(vocab[t], t) for t in head] + [added(vocab['<mask>'], '<mask>', lstrip=True)],
        'normalizer': None, 'pre_tokenizer': byte_level,
        'post_processor': {'type': 'RobertaProcessing', 'sep': ['</s>', vocab['</s>']], 'cls': ['<s>', vocab['<s>']],
                           'trim_offsets': True, 'add_prefix_space': False},
        'decoder': byte_level, 'model': model(vocab)})
    specials = {'bos_token': '<s>', 'eos_token': '</s>', 'unk_token': '<unk>', 'sep_token': '</s>',
                'pad_token': '<pad>', 'cls_token': '<s>',
                'mask_token': {'content': '<mask>', 'single_word': False, 'lstrip': True, 'rstrip': False,
                               'normalized': False}}
    write(d, 'tokenizer_config.json', {'tokenizer_class': 'RobertaTokenizer', 'model_max_length': 512,
                                       'add_prefix_space': False, 'clean_up_tokenization_spaces': False,
                                       **specials})
    write(d, 'special_tokens_map.json', specials)


def make_unigram(lines: list[str]):
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type='unigram', vocab_size=1000,
        character_coverage=1.0, normalization_rule_name='identity', remove_extra_whitespaces=False,
        add_dummy_prefix=True, split_by_whitespace=True, byte_fallback=False, pad_id=0, eos_id=1,
        unk_id=2, bos_id=-1, num_threads=1, shuffle_input_sentence=False, seed_sentencepiece_size=100000,
        minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    d = os.path.join(OUT, 'unigram')
    write(d, 'spiece.model', model.getvalue())
    vocab = [[sp.IdToPiece(i), float(sp.GetScore(i))] for i in range(sp.GetPieceSize())]
    # sentencepiece always prepends "▁" (add_dummy_prefix) and never merges runs of spaces here
    # (remove_extra_whitespaces=False); Prepend + Replace reproduce that exactly, where Metaspace's
    # own prepend would skip texts that already start with a space.
    write(d, 'tokenizer.json', {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added(0, '<pad>'), added(1, '</s>'), added(2, '<unk>')],
        'normalizer': {'type': 'Sequence', 'normalizers': [
            {'type': 'Prepend', 'prepend': '▁'},
            {'type': 'Replace', 'pattern': {'String': ' '}, 'content': '▁'}]},
        'pre_tokenizer': {'type': 'Metaspace', 'replacement': '▁', 'prepend_scheme': 'never', 'split': True},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [{'Sequence': {'id': 'A', 'type_id': 0}}, {'SpecialToken': {'id': '</s>', 'type_id': 0}}],
            'pair': [{'Sequence': {'id': 'A', 'type_id': 0}}, {'SpecialToken': {'id': '</s>', 'type_id': 0}},
                     {'Sequence': {'id': 'B', 'type_id': 0}}, {'SpecialToken': {'id': '</s>', 'type_id': 0}}],
            'special_tokens': {'</s>': {'id': '</s>', 'ids': [1], 'tokens': ['</s>']}},
        },
        'decoder': {'type': 'Metaspace', 'replacement': '▁', 'prepend_scheme': 'always', 'split': True},
        'model': {'type': 'Unigram', 'unk_id': 2, 'vocab': vocab, 'byte_fallback': False},
    })
    specials = {'eos_token': '</s>', 'unk_token': '<unk>', 'pad_token': '<pad>'}
    write(d, 'tokenizer_config.json', {'tokenizer_class': 'T5Tokenizer', 'model_max_length': 512,
                                       'clean_up_tokenization_spaces': False, **specials})
    write(d, 'special_tokens_map.json', specials)
    return sp


# ---------------------------------------------------------------------------------------------
# Hugging Face's Rust tokenizers through Node: the reference for everything tokenizer.json does

NODE_REF = r"""
const t = require('tokenizers')
const fs = require('fs')
const job = JSON.parse(fs.readFileSync(0, 'utf8'))
// code-point offsets (what the Node binding returns) -> UTF-16 offsets into the JS string
function u16(text) {
  const cps = Array.from(text); const at = [0]
  for (const c of cps) at.push(at[at.length - 1] + c.length)
  return (o) => [at[o[0]], at[o[1]]]
}
function enc(e, text, pairText) {
  const seq = e.getSequenceIds(); const a = u16(text); const b = pairText == null ? a : u16(pairText)
  return { ids: e.getIds(), typeIds: e.getTypeIds(), tokens: e.getTokens(), attentionMask: e.getAttentionMask(),
           wordIds: e.getWordIds().map((w) => (w == null ? null : w)),
           offsets: e.getOffsets().map((o, i) => (seq[i] === 1 ? b(o) : a(o))),
           specialTokensMask: e.getSpecialTokensMask() }
}
async function legacy(kind, dir) {
  let tok
  if (kind === 'wordpiece') {
    tok = new t.Tokenizer(await t.WordPiece.fromFile(dir + '/vocab.txt', { unkToken: '[UNK]' }))
    tok.setNormalizer(t.bertNormalizer({ lowercase: true }))
    tok.setPreTokenizer(t.bertPreTokenizer())
    tok.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
  } else if (kind === 'bpe' || kind === 'bpe-roberta') {
    tok = new t.Tokenizer(await t.BPE.fromFile(dir + '/vocab.json', dir + '/merges.txt'))
    tok.setPreTokenizer(t.byteLevelPreTokenizer(false, true))
    if (kind === 'bpe') tok.addSpecialTokens(['<|endoftext|>'])
    else {
      tok.addSpecialTokens(['<s>', '<pad>', '</s>', '<unk>'])
      tok.addAddedTokens([new t.AddedToken('<mask>', true, { leftStrip: true, normalized: false })])
    }
  } else return null
  return tok
}
;(async () => {
  const out = {}
  for (const [name, dir] of job.fixtures) {
    const tok = t.Tokenizer.fromFile(dir + '/tokenizer.json')
    const r = { strings: [], pairs: [], truncation: [], singleTruncation: [], padding: [], legacyIds: null }
    for (const s of job.strings) {
      const plain = await tok.encode(s, null, { addSpecialTokens: false })
      const full = await tok.encode(s)
      r.strings.push({ plain: enc(plain, s), special: enc(full, s),
        decodeSkip: await tok.decode(full.getIds(), true), decodeKeep: await tok.decode(full.getIds(), false) })
    }
    for (const [a, b] of job.pairs) r.pairs.push(enc(await tok.encode(a, b), a, b))
    for (const [strategy, direction] of [['LongestFirst', 'right'], ['OnlyFirst', 'right'], ['OnlySecond', 'right'], ['LongestFirst', 'left'], ['OnlySecond', 'left']]) {
      for (const [p, maxLength] of job.truncations) {
        const [a, b] = job.pairs[p]
        tok.setTruncation(maxLength, { strategy, direction })
        let res
        try { const e = await tok.encode(a, b); res = { ids: e.getIds(), typeIds: e.getTypeIds(), wordIds: e.getWordIds().map((w) => (w == null ? null : w)) } }
        catch (err) { res = { error: String(err.message || err) } }
        r.truncation.push({ pair: p, maxLength, strategy, direction, ...res })
        tok.disableTruncation()
      }
    }
    for (const direction of ['right', 'left']) {
      for (const [s, maxLength] of job.singleTruncations) {
        tok.setTruncation(maxLength, { direction })
        const e = await tok.encode(job.strings[s])
        r.singleTruncation.push({ string: s, maxLength, direction, ids: e.getIds(), wordIds: e.getWordIds().map((w) => (w == null ? null : w)) })
        tok.disableTruncation()
      }
    }
    const padId = tok.tokenToId(job.pad[name] ?? '') 
    if (padId != null) {
      const batch = [job.strings[0], job.strings[1], job.strings[51]]
      for (const opt of [{}, { maxLength: 16 }, { padToMultipleOf: 8 }, { direction: 'left' }]) {
        tok.setPadding({ padId, padToken: job.pad[name], ...opt })
        const es = await tok.encodeBatch(batch)
        r.padding.push({ options: opt, texts: batch, ids: es.map((e) => e.getIds()),
          attentionMask: es.map((e) => e.getAttentionMask()), typeIds: es.map((e) => e.getTypeIds()) })
        tok.disablePadding()
      }
    }
    const lt = await legacy(name, dir)
    if (lt) {
      r.legacyIds = []
      for (const s of job.strings) r.legacyIds.push((await lt.encode(s, null, { addSpecialTokens: false })).getIds())
    }
    out[name] = r
  }
  out.variants = []
  for (const [base, name, over] of job.variants) {
    const j = { ...JSON.parse(fs.readFileSync(job.dir + '/' + base + '/tokenizer.json', 'utf8')), ...over }
    const tok = t.Tokenizer.fromString(JSON.stringify(j))
    const r = { base, name, overrides: over, strings: [] }
    for (const s of job.strings) {
      const plain = await tok.encode(s, null, { addSpecialTokens: false })
      const full = await tok.encode(s)
      r.strings.push({ plain: enc(plain, s), specialIds: full.getIds(), decode: await tok.decode(full.getIds(), false) })
    }
    out.variants.push(r)
  }
  process.stdout.write(JSON.stringify(out))
})().catch((e) => { console.error(e); process.exit(1) })
"""


def hf_reference(fixtures: list[str]) -> dict:
    if not os.path.isdir(os.path.join(TOKREF, 'node_modules', 'tokenizers')):
        sys.exit(f'missing the reference: run `npm install --prefix {TOKREF} tokenizers@0.23.2` (or set TOKREF)')
    job = {'fixtures': [[f, os.path.join(OUT, f)] for f in fixtures], 'strings': STRINGS, 'pairs': PAIRS,
           'truncations': TRUNCATIONS, 'variants': VARIANTS, 'dir': OUT, 'singleTruncations': SINGLE_TRUNCATIONS,
           'pad': {'wordpiece': '[PAD]', 'bpe-roberta': '<pad>', 'unigram': '<pad>'}}
    env = dict(os.environ, NODE_PATH=os.path.join(TOKREF, 'node_modules'))
    res = subprocess.run(['node', '-e', NODE_REF], input=json.dumps(job), capture_output=True, text=True,
                         env=env, check=False)
    if res.returncode != 0:
        sys.exit('reference run failed:\n' + res.stderr)
    return json.loads(res.stdout)


def torchtext_reference(name: str):
    """torchtext's tokenizers when its C++ extension loads (it does not on Debian 12)."""
    try:
        from torchtext.transforms import BERTTokenizer, GPT2BPETokenizer
    except Exception as e:  # noqa: BLE001
        print(f'  torchtext unavailable ({type(e).__name__}: {e}); skipping its cross-check')
        return None
    d = os.path.join(OUT, name)
    if name == 'wordpiece':
        tok = BERTTokenizer(os.path.join(d, 'vocab.txt'), do_lower_case=True, return_tokens=False)
        return [[int(i) for i in tok(s)] for s in STRINGS]
    if name == 'bpe':
        tok = GPT2BPETokenizer(os.path.join(d, 'vocab.json'), os.path.join(d, 'merges.txt'))
        return [[int(i) for i in tok(s)] for s in STRINGS]
    return None


def main() -> None:
    lines = corpus_lines()
    print(f'corpus: {len(lines)} lines, {sum(map(len, lines))} chars')
    make_wordpiece(lines)
    make_bpe(lines)
    sp = make_unigram(lines)
    write(OUT, 'strings.json', {'strings': STRINGS, 'pairs': PAIRS})
    fixtures = ['wordpiece', 'bpe', 'bpe-roberta', 'unigram']
    ref = hf_reference(fixtures)
    write(OUT, 'variants.json', ref.pop('variants'), indent=None)
    for name in fixtures:
        r = ref[name]
        hf_ids = [s['plain']['ids'] for s in r['strings']]
        notes = {}
        if r['legacyIds'] is not None:
            for i, (a, b) in enumerate(zip(hf_ids, r['legacyIds'])):
                assert a == b, f'{name}: tokenizer.json and legacy files disagree on string {i}: {a} vs {b}'
        tt = torchtext_reference(name)
        if tt is not None:
            for i, (a, b) in enumerate(zip(hf_ids, tt)):
                if a != b:
                    notes[str(i)] = f'torchtext gives {b}'
        if name == 'unigram':
            sp_ids = [sp.EncodeAsIds(s) for s in STRINGS]
            r['sentencepieceIds'] = sp_ids
            specials = ['<pad>', '</s>', '<unk>']
            for i, (a, b) in enumerate(zip(hf_ids, sp_ids)):
                if a == b:
                    continue
                if any(t in STRINGS[i] for t in specials):
                    why = 'tokenizers matches special-token text whole (added tokens); sentencepiece spells it out'
                else:
                    sa, sb = sum(sp.GetScore(x) for x in a), sum(sp.GetScore(x) for x in b)
                    assert abs(sa - sb) < 1e-4, f'unexplained sentencepiece difference on string {i}'
                    why = (f'tied segmentations (total score {sa:.6f} vs {sb:.6f}); sentencepiece accumulates '
                           'in float32, tokenizers in float64, so rounding picks different winners')
                notes[str(i)] = f'{why}. sentencepiece: {b}'
        r['notes'] = notes
        for k, v in notes.items():
            print(f'  {name} string {k} {STRINGS[int(k)]!r}: {v}')
        write(os.path.join(OUT, name), 'golden.json', r, indent=None)
        print(f'{name}: {len(STRINGS)} strings, {len(PAIRS)} pairs, {len(r["truncation"])} truncations')


if __name__ == '__main__':
    main()
