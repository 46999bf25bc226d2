#!/usr/bin/python3
"""Tiny SentencePiece models and reference ids for src/tokenizers/sentencepiece.test.ts.
Run by hand with Debian's sentencepiece (apt-get install -y sentencepiece python3-sentencepiece):
    /usr/bin/python3 scripts/gen_spm_goldens.py
Trains on the committed gettext corpus (data/gettext, English + German + Japanese text):
  unigram.model  unigram, nmt_nfkc normalization (a real precompiled_charsmap), vocab 800
  bpe.model      BPE with byte_fallback, identity normalization, no dummy prefix handling changes
  unigram-ws.model  unigram, nmt_nfkc, remove_extra_whitespaces=false, add_dummy_prefix=false
and writes golden.json: pieces, ids, normalized text and decoded text from sentencepiece 0.1.97."""
import csv, json, os, sys, tempfile
import sentencepiece as spm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'sentencepiece')
csv.field_size_limit(1 << 20)

lines = []
for lang in ('de', 'ja'):
    with open(os.path.join(ROOT, 'data', 'gettext', f'en-{lang}.pretrain.tsv'), encoding='utf-8', newline='') as f:
        for row in csv.DictReader(f, delimiter='\t'):
            lines += [row['source'].replace('\n', ' '), row['target'].replace('\n', ' ')]
tmp = tempfile.NamedTemporaryFile('w', suffix='.txt', delete=False, encoding='utf-8')
tmp.write('\n'.join(lines[:12000]) + '\n')
tmp.close()

common = dict(input=tmp.name, character_coverage=0.98, num_threads=1, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
spm.SentencePieceTrainer.train(model_prefix=os.path.join(OUT, 'unigram'), vocab_size=800, model_type='unigram', **common)
spm.SentencePieceTrainer.train(model_prefix=os.path.join(OUT, 'bpe'), vocab_size=600, model_type='bpe', byte_fallback=True,
                               normalization_rule_name='identity', user_defined_symbols=['<sep>'], **common)
spm.SentencePieceTrainer.train(model_prefix=os.path.join(OUT, 'unigram-ws'), vocab_size=500, model_type='unigram',
                               remove_extra_whitespaces=False, add_dummy_prefix=False, **common)
for f in os.listdir(OUT):
    if f.endswith('.vocab'):
        os.remove(os.path.join(OUT, f))
os.remove(tmp.name)

STRINGS = [
    'Hello, world!', 'Cannot open file %s', '  leading and   inner   spaces  ', 'trailing\t tab\n',
    'Größe ändern', 'Ça ne marche pas, n\'est-ce pas ?', 'naïve café résumé', 'ﬁnancial ① ＡＢＣ ｶﾀｶﾅ',
    'ファイルを開く', '設定を保存できませんでした。', '한국어 텍스트', '中文字符测试', 'Ελληνικά κείμενο',
    'emoji 😀 and 👍🏽 and 👨‍👩‍👧', 'e\u0301 combining vs é', 'ＦＵＬＬ　ＷＩＤＴＨ　ｓｐａｃｅ', 'line1\nline2\r\nline3',
    '', ' ', 'a', 'zzzzqqqq xylophone', 'ß ẞ ǅ Ⅻ ½ ™', '\u200bzero\u200dwidth\ufeff', 'tab\there', '<sep> user <sep>defined',
    'Die Datei konnte nicht geöffnet werden.', 'Options:\n  -h, --help  show help', '1234567890 3.14 1,000', 'Ünïcödé ÀÉÎÕÜ',
    'The quick brown fox jumps over the lazy dog.', 'Привет, мир', 'עברית', 'العربية', 'हिन्दी', '\u3000全角スペース\u3000',
]
out = {'sentencepiece': spm.__version__, 'strings': STRINGS, 'models': {}}
for name in ('unigram', 'bpe', 'unigram-ws'):
    sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, name + '.model'))
    rows = []
    for s in STRINGS:
        ids = sp.encode(s)
        pieces = sp.encode(s, out_type=str)
        rows.append({'ids': ids, 'pieces': pieces, 'decoded': sp.decode(ids)})
    out['models'][name] = rows
with open(os.path.join(OUT, 'golden.json'), 'w', encoding='utf-8') as f:
    json.dump(out, f, ensure_ascii=False, indent=0)
print({k: os.path.getsize(os.path.join(OUT, k)) for k in os.listdir(OUT)})
