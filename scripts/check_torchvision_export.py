"""Checks that a trained torchvision-arch folder finetune wrote loads into torchvision with
load_state_dict (strict) and predicts the same classes as finetune. Run by hand with Debian's python3:

    node bin/finetune.js predict --model DIR --json IMG... > /tmp/img-preds.jsonl
    /usr/bin/python3 scripts/check_torchvision_export.py DIR /tmp/img-preds.jsonl

Preprocessing is redone in torchvision from preprocessor_config.json (resize shorter side, centre crop,
ToTensor, Normalize), so this also checks the image pipeline end to end.
"""
import json, sys
import torch, torchvision
from PIL import Image
import torchvision.transforms as T
sys.path.insert(0, 'scripts')
from safetensors_io import load_file  # noqa: E402

folder, preds_path = sys.argv[1:3]
cfg = json.load(open(f'{folder}/config.json'))
pp = json.load(open(f'{folder}/preprocessor_config.json'))
arch = cfg['finetune_arch']
n = cfg['num_classes']
kw = {'aux_logits': True, 'init_weights': False} if arch == 'inception_v3' else {}
model = getattr(torchvision.models, arch)(num_classes=n, **kw)
sd = load_file(f'{folder}/model.safetensors')
missing, unexpected = model.load_state_dict(sd, strict=True), None
model.eval()
size = pp['size']
resize = size.get('shortest_edge') or (size['height'], size['width'])
crop = pp.get('crop_size', {})
tf = T.Compose([T.Resize(resize), *( [T.CenterCrop((crop['height'], crop['width']))] if crop and pp.get('do_center_crop', True) else []), T.ToTensor(), T.Normalize(pp['image_mean'], pp['image_std'])])
preds = [json.loads(l) for l in open(preds_path) if l.strip()]
agree = 0
worst = 0.0
for p in preds:
    x = tf(Image.open(p['path']).convert('RGB')).unsqueeze(0)
    with torch.no_grad():
        logits = model(x)[0]
    label = cfg['id2label'][str(int(logits.argmax()))]
    agree += label == p['label']
    worst = max(worst, float((logits - torch.tensor(p['logits'])).abs().max()))
print(json.dumps({'arch': arch, 'images': len(preds), 'same_class': agree, 'max_abs_logit_diff': worst}))
assert agree == len(preds)
