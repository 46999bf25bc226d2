"""Checks that a folder finetune wrote loads as Hugging Face transformers would load it, and that the
reference implementation (scripts/text_reference.py, validated against torchtext's RoBERTa) gives
the logits finetune gave. Run by hand with Debian's python3:

    node bin/finetune.js predict --model DIR --json TEXT... > /tmp/preds.jsonl   (finetune side)
    node scripts/dump-encodings.mjs DIR TEXT... > /tmp/enc.json                 (token ids)
    /usr/bin/python3 scripts/check_hf_folder.py DIR /tmp/enc.json /tmp/preds.jsonl

It checks: config.json fields from_pretrained reads (model_type, architectures, id2label/label2id),
safetensors metadata format "pt", every weight the HF class expects present with its shape, then the
logits within 1e-4.
"""
import json, sys
import torch
sys.path.insert(0, 'scripts')
from safetensors_io import load_file, load_metadata  # noqa: E402
from text_reference import build_model, load_checkpoint, HF_CLASSES  # noqa: E402

folder, enc_path, preds_path = sys.argv[1:4]
cfg = json.load(open(f'{folder}/config.json'))
arch = cfg['architectures'][0]
match = [(fam, head) for (fam, head), (name, _) in HF_CLASSES.items() if name == arch]
assert match, f'unknown architecture {arch}'
family, head = match[0]
assert cfg['model_type'] == family, cfg['model_type']
meta = load_metadata(f'{folder}/model.safetensors')
assert meta.get('format') == 'pt', f'safetensors metadata format is {meta!r}; transformers requires "pt"'
assert {int(k): v for k, v in cfg['id2label'].items()} == {v: k for k, v in cfg['label2id'].items()}, 'id2label and label2id disagree'
model = build_model(family, head, cfg)
model.eval()
unused = load_checkpoint(model, family, load_file(f'{folder}/model.safetensors'))
enc = json.load(open(enc_path))
preds = [json.loads(l) for l in open(preds_path) if l.strip()]
worst = 0.0
for e, p in zip(enc, preds):
    ids = torch.tensor([e['ids']])
    mask = torch.ones_like(ids)
    kw = {'token_type_ids': torch.tensor([e['typeIds']])} if family == 'bert' else {}
    with torch.no_grad():
        logits = model(ids, attention_mask=mask, **kw)['logits'][0]
    worst = max(worst, float((logits - torch.tensor(p['logits'])).abs().max()))
print(json.dumps({'architecture': arch, 'unused_keys': unused, 'examples': len(preds), 'max_abs_logit_diff': worst}))
assert worst < 1e-4, worst
