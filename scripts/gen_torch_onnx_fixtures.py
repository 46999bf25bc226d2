"""ONNX files as torch.onnx.export writes them, for the importer's round-trip tests
(src/onnx/import-torch.test.ts). Run by hand with Debian's python3 (torch 1.13, torchvision 0.14):

    /usr/bin/python3 scripts/gen_torch_onnx_fixtures.py

Writes test/fixtures/onnx-torch/:
  bert-cls.onnx   BertForSequenceClassification of the project's PyTorch text reference
                  (scripts/text_reference.py: HF's modeling code), 2 layers, hidden 32, vocab 64,
                  opset 14, dynamic batch and sequence axes (input_ids, attention_mask,
                  token_type_ids -> logits).
  resnet18.onnx   torchvision 0.14's resnet18 with every width divided by 8 (conv1 keeps its 3
                  input channels): the same graph torch.onnx.export writes for ResNet-18 (Conv with
                  BatchNorm folded in eval mode, MaxPool, Add, Relu, GlobalAveragePool, Flatten,
                  Gemm), small enough to commit. Opset 14, dynamic batch, height and width.
  golden.json     inputs and torch's outputs for each (eval mode), at shapes other than the
                  export's example inputs, so the dynamic axes are exercised.
  wav2vec2-ctc/   a TINY torchaudio 0.13 wav2vec2_model (group-norm feature encoder of 4 convs,
                  32 channels, strides 5,4,4,4: 320 samples a frame; 2 post-norm encoder layers of
                  width 32) with its aux Linear as the CTC head over 31 characters, exported with
                  opset 14 and dynamic batch and time axes (input_values [B, N] -> logits
                  [B, T, 31]), laid out as Transformers.js lays out Xenova's Wav2Vec2ForCTC
                  exports: config.json in HF Wav2Vec2 naming, vocab.json (<pad> = blank, |,
                  a-z), tokenizer_config.json, preprocessor_config.json, onnx/model.onnx, and
                  golden.json: torch's logits for the input x[b, n] = 0.5 sin(0.013 (b + 1) (n + 1))
                  + 0.1 cos(0.0007 n) (float64, then float32), B = 2, N = 4000.
Random weights, fixed seeds. `python3 scripts/gen_torch_onnx_fixtures.py wav2vec2-ctc` writes only
the last.
"""
from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import text_reference as ref  # noqa: E402

OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'onnx-torch')


def narrow(model: nn.Module, k: int) -> nn.Module:
    """Divides every channel count by k (3 input channels kept), in place."""
    for name, m in list(model.named_modules()):
        parent = model
        *path, leaf = name.split('.') if name else ['']
        for p in path:
            parent = getattr(parent, p)
        if isinstance(m, nn.Conv2d):
            cin = m.in_channels if m.in_channels == 3 else m.in_channels // k
            new = nn.Conv2d(cin, m.out_channels // k, m.kernel_size, m.stride, m.padding, bias=m.bias is not None)
        elif isinstance(m, nn.BatchNorm2d):
            new = nn.BatchNorm2d(m.num_features // k)
        elif isinstance(m, nn.Linear):
            new = nn.Linear(m.in_features // k, m.out_features)
        else:
            continue
        setattr(parent, leaf, new)
    return model


def randomise_bn(model: nn.Module, g: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def flat(t: torch.Tensor) -> list:
    return [float(f'{v:.8g}') for v in t.detach().reshape(-1).tolist()]


class BertLogits(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids, attention_mask, token_type_ids)['logits']


W2V_CONV = [(32, 10, 5), (32, 8, 4), (32, 8, 4), (32, 8, 4)]
W2V_VOCAB = ['<pad>', '<s>', '</s>', '<unk>', '|'] + [chr(c) for c in range(ord('a'), ord('z') + 1)]


class Wav2Vec2Logits(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_values):
        return self.m(input_values)[0]


def wav2vec2_ctc() -> None:
    import torchaudio
    out = os.path.join(OUT, 'wav2vec2-ctc')
    os.makedirs(os.path.join(out, 'onnx'), exist_ok=True)
    torch.manual_seed(5)
    m = torchaudio.models.wav2vec2_model(
        extractor_mode='group_norm', extractor_conv_layer_config=W2V_CONV, extractor_conv_bias=False,
        encoder_embed_dim=32, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4,
        encoder_num_layers=2, encoder_num_heads=2, encoder_attention_dropout=0.0, encoder_ff_interm_features=64,
        encoder_ff_interm_dropout=0.0, encoder_dropout=0.0, encoder_layer_norm_first=False, encoder_layer_drop=0.0,
        aux_num_out=len(W2V_VOCAB))
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    wrapped = Wav2Vec2Logits(m).eval()
    torch.onnx.export(wrapped, torch.randn(1, 3200), os.path.join(out, 'onnx', 'model.onnx'), opset_version=14, do_constant_folding=True,
                      input_names=['input_values'], output_names=['logits'],
                      dynamic_axes={'input_values': {0: 'batch_size', 1: 'sequence_length'}, 'logits': {0: 'batch_size', 1: 'sequence_length'}})
    b = torch.arange(2, dtype=torch.float64).reshape(2, 1)
    n = torch.arange(4000, dtype=torch.float64).reshape(1, 4000)
    x = (0.5 * torch.sin(0.013 * (b + 1) * (n + 1)) + 0.1 * torch.cos(0.0007 * n)).float()
    with torch.no_grad():
        y = wrapped(x)
    config = {
        'model_type': 'wav2vec2', 'architectures': ['Wav2Vec2ForCTC'], 'vocab_size': len(W2V_VOCAB), 'pad_token_id': 0,
        'hidden_size': 32, 'num_hidden_layers': 2, 'num_attention_heads': 2, 'intermediate_size': 64, 'hidden_act': 'gelu',
        'feat_extract_norm': 'group', 'conv_dim': [c for c, _, _ in W2V_CONV], 'conv_kernel': [k for _, k, _ in W2V_CONV],
        'conv_stride': [s for _, _, s in W2V_CONV], 'conv_bias': False, 'num_conv_pos_embeddings': 16, 'num_conv_pos_embedding_groups': 4,
        'do_stable_layer_norm': False, 'ctc_loss_reduction': 'mean', 'layer_norm_eps': 1e-5,
        'finetune_fixture': 'torchaudio wav2vec2_model, random weights (scripts/gen_torch_onnx_fixtures.py)',
    }
    files = {
        'config.json': config,
        'vocab.json': {t: i for i, t in enumerate(W2V_VOCAB)},
        'tokenizer_config.json': {'bos_token': '<s>', 'do_lower_case': False, 'eos_token': '</s>', 'pad_token': '<pad>', 'tokenizer_class': 'Wav2Vec2CTCTokenizer', 'unk_token': '<unk>', 'word_delimiter_token': '|'},
        'preprocessor_config.json': {'do_normalize': True, 'feature_extractor_type': 'Wav2Vec2FeatureExtractor', 'feature_size': 1, 'padding_side': 'right', 'padding_value': 0.0, 'return_attention_mask': False, 'sampling_rate': 16000},
        'golden.json': {'generator': 'scripts/gen_torch_onnx_fixtures.py', 'torch': torch.__version__, 'torchaudio': torchaudio.__version__, 'shape': [2, 4000], 'logits_shape': list(y.shape), 'logits': flat(y)},
    }
    for name, obj in files.items():
        with open(os.path.join(out, name), 'w') as f:
            json.dump(obj, f, indent=None if name == 'golden.json' else 2)
            f.write('\n')


def main() -> None:
    if sys.argv[1:] == ['wav2vec2-ctc']:
        return wav2vec2_ctc()
    os.makedirs(OUT, exist_ok=True)
    golden = {}

    torch.manual_seed(0)
    cfg = ref.Config(ref.bert_config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, vocab_size=64, max_position_embeddings=64, **ref._labels(3)))
    bert = ref.BertForSequenceClassification(cfg).eval()
    for p in bert.parameters():
        p.data.normal_(0, 0.2)
    wrapped = BertLogits(bert).eval()
    ex = (torch.randint(0, 64, (2, 8)), torch.ones(2, 8, dtype=torch.long), torch.zeros(2, 8, dtype=torch.long))
    torch.onnx.export(wrapped, ex, os.path.join(OUT, 'bert-cls.onnx'), opset_version=14, do_constant_folding=True,
                      input_names=['input_ids', 'attention_mask', 'token_type_ids'], output_names=['logits'],
                      dynamic_axes={'input_ids': {0: 'batch', 1: 'sequence'}, 'attention_mask': {0: 'batch', 1: 'sequence'}, 'token_type_ids': {0: 'batch', 1: 'sequence'}, 'logits': {0: 'batch'}})
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 64, (3, 11), generator=g)
    mask = torch.ones(3, 11, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    types = torch.zeros(3, 11, dtype=torch.long)
    types[:, 6:] = 1
    with torch.no_grad():
        logits = wrapped(ids, mask, types)
    golden['bert'] = {'input_ids': ids.reshape(-1).tolist(), 'attention_mask': mask.reshape(-1).tolist(), 'token_type_ids': types.reshape(-1).tolist(), 'shape': [3, 11], 'logits': flat(logits)}

    torch.manual_seed(2)
    resnet = narrow(torchvision.models.resnet18(num_classes=5), 8)
    randomise_bn(resnet, torch.Generator().manual_seed(3))
    resnet.eval()
    torch.onnx.export(resnet, torch.randn(1, 3, 32, 32), os.path.join(OUT, 'resnet18.onnx'), opset_version=14, do_constant_folding=True,
                      input_names=['pixel_values'], output_names=['logits'],
                      dynamic_axes={'pixel_values': {0: 'batch', 2: 'height', 3: 'width'}, 'logits': {0: 'batch'}})
    x = torch.randn(2, 3, 40, 48, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = resnet(x)
    golden['resnet18'] = {'pixel_values': flat(x), 'shape': [2, 3, 40, 48], 'logits': flat(y)}

    with open(os.path.join(OUT, 'golden.json'), 'w') as f:
        json.dump({'generator': 'scripts/gen_torch_onnx_fixtures.py', 'torch': torch.__version__, 'torchvision': torchvision.__version__, **golden}, f)
        f.write('\n')
    wav2vec2_ctc()


if __name__ == '__main__':
    main()
