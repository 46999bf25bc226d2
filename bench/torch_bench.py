"""PyTorch side of finetune's benchmarks: the same model and training step, timed the same way.

Run by bench/run.ts with Debian's python3-torch, OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset and the
glibc allocator tuned (see bench/run.ts). Prints one JSON line: {"median_ms": ..., "peak_rss_mb": ...}.
usage: python3 bench/torch_bench.py CASE THREADS STEPS WARMUP
TORCH_DEVICE=cuda runs the model and the step's tensors on the GPU (timed after a synchronize).
"""
import json, math, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

case, threads, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)


class Block(nn.Module):
    """Pre-LN transformer block, exact GELU, softmax attention (matches src/models/transformer-block.ts)."""
    def __init__(self, c=256, nh=4, ffn=1024):
        super().__init__()
        self.nh = nh
        self.ln_1 = nn.LayerNorm(c); self.c_attn = nn.Linear(c, 3 * c); self.c_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c); self.c_fc = nn.Linear(c, ffn); self.m_proj = nn.Linear(ffn, c)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = [t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        h = x + self.c_proj(y)
        return h + self.m_proj(F.gelu(self.c_fc(self.ln_2(h))))


class ConvBlock(nn.Module):
    """ResNet basic block + global average pool + linear head (matches bench/cases.ts conv-block)."""
    def __init__(self, c=64, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False); self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False); self.bn2 = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)) + x)
        return self.fc(y.mean((2, 3)))


class Lora(nn.Module):
    """PEFT's lora.Linear forward (r, alpha, no dropout) around a frozen Linear or GPT-2 Conv1D."""
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        w = base.weight
        fan_in, fan_out = (w.shape[0], w.shape[1]) if type(base).__name__ == 'Conv1D' else (w.shape[1], w.shape[0])
        self.base = base; self.scaling = alpha / r
        self.lora_A = nn.Linear(fan_in, r, bias=False); self.lora_B = nn.Linear(r, fan_out, bias=False)
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def add_lora(m, targets, keep):
    for p in m.parameters():
        p.requires_grad_(False)
    for name, mod in list(m.named_modules()):
        if name.split('.')[-1] in targets:
            parent = m.get_submodule(name.rsplit('.', 1)[0])
            setattr(parent, name.split('.')[-1], Lora(mod))
    for n, p in m.named_parameters():
        if 'lora_' in n or any(n.startswith(k + '.') for k in keep):
            p.requires_grad_(True)
    return m


def build():
    if case == 'transformer-block':
        m = Block()
        x = torch.randn(16, 64, 256); t = torch.randn(16, 64, 256)
        return m, lambda: F.mse_loss(m(x), t)
    if case == 'conv-block':
        m = ConvBlock()
        x = torch.randn(16, 64, 64, 64); y = torch.randint(0, 10, (16,))
        return m, lambda: F.cross_entropy(m(x), y)
    if case == 'resnet18-finetune':
        import torchvision
        m = torchvision.models.resnet18(num_classes=10)
        x = torch.randn(16, 3, 112, 112); y = torch.randint(0, 10, (16,))
        return m, lambda: F.cross_entropy(m(x), y)
    if case == 'bert-finetune':
        sys.path.insert(0, 'scripts')
        from text_reference import bert_config, build_model  # noqa
        cfg = bert_config(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                          intermediate_size=1024, max_position_embeddings=512)
        m = build_model('bert', 'sequence-classification', cfg)
        ids = torch.randint(0, 30522, (16, 128)); mask = torch.ones(16, 128, dtype=torch.long); y = torch.randint(0, 2, (16,))
        return m, lambda: m(ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids), labels=y)['loss']
    if case in ('bert-lora',):
        sys.path.insert(0, 'scripts')
        from text_reference import bert_config, build_model  # noqa
        cfg = bert_config(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                          intermediate_size=1024, max_position_embeddings=512)
        m = add_lora(build_model('bert', 'sequence-classification', cfg), ['query', 'value'], ['classifier'])
        ids = torch.randint(0, 30522, (16, 128)); mask = torch.ones(16, 128, dtype=torch.long); y = torch.randint(0, 2, (16,))
        return m, lambda: m(ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids), labels=y)['loss']
    if case in ('gpt2-finetune', 'gpt2-lora'):
        sys.path.insert(0, 'scripts')
        from text_reference import gpt2_config, build_model  # noqa
        cfg = gpt2_config(vocab_size=50257, n_embd=256, n_layer=4, n_head=4, n_positions=512)
        m = build_model('gpt2', 'causal-lm', cfg)
        for p in m.parameters():  # GPT-2's initializer_range, as the finetune side
            if p.ndim > 1:
                nn.init.normal_(p, std=0.02)
        if case == 'gpt2-lora':
            m = add_lora(m, ['c_attn'], [])
        ids = torch.randint(0, 50257, (8, 128)); mask = torch.ones(8, 128, dtype=torch.long)
        return m, lambda: m(ids, attention_mask=mask, labels=ids)['loss']
    if case == 'marian-finetune':
        sys.path.insert(0, 'scripts')
        from marian_reference import MarianMTModel, marian_config  # noqa
        V = 8000
        cfg = marian_config(vocab_size=V, d_model=256, encoder_layers=6, decoder_layers=6, encoder_attention_heads=4,
                            decoder_attention_heads=4, encoder_ffn_dim=1024, decoder_ffn_dim=1024, dropout=0.0,
                            attention_dropout=0.0, activation_dropout=0.0, pad_token_id=V - 1, decoder_start_token_id=V - 1)
        m = MarianMTModel(cfg)
        ids = torch.randint(1, V - 1, (16, 64)); mask = torch.ones(16, 64, dtype=torch.long); y = torch.randint(1, V - 1, (16, 64))
        return m, lambda: m(ids, attention_mask=mask, labels=y)['loss']
    if case == 'wav2vec2-ctc':
        from torchaudio.models import wav2vec2_model
        m = wav2vec2_model(extractor_mode='group_norm', extractor_conv_layer_config=list(zip([256] * 7, [10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2])),
                           extractor_conv_bias=False, encoder_embed_dim=256, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=128,
                           encoder_pos_conv_groups=16, encoder_num_layers=4, encoder_num_heads=4, encoder_attention_dropout=0.0,
                           encoder_ff_interm_features=1024, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0, encoder_layer_norm_first=False,
                           encoder_layer_drop=0.0, aux_num_out=32)
        for p in m.feature_extractor.parameters():  # freeze_feature_encoder, as the finetune side
            p.requires_grad_(False)
        x = torch.randn(16, 32000); y = torch.randint(1, 32, (16, 20))
        def loss():
            logits, _ = m(x)
            lp = F.log_softmax(logits, -1).transpose(0, 1)
            return F.ctc_loss(lp, y, torch.full((16,), lp.shape[0], dtype=torch.long), torch.full((16,), 20, dtype=torch.long), blank=0, reduction='mean')
        return m, loss
    if case in ('deeplabv3-finetune', 'deeplabv3-resnet50-finetune'):
        import os
        from torchvision.models import segmentation as S
        arch = 'deeplabv3_mobilenet_v3_large' if case == 'deeplabv3-finetune' else 'deeplabv3_resnet50'
        m = getattr(S, arch)(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
        for mod in m.modules():  # the finetune side runs without dropout
            if isinstance(mod, nn.Dropout):
                mod.p = 0.0
        size = int(os.environ.get('BENCH_SEG_SIZE', '512'))
        x = torch.randn(4, 3, size, size)
        i = torch.arange(4 * size * size)
        y = torch.where(i % 97 == 0, torch.tensor(255), (i // (size * 8)) % 21).reshape(4, size, size)
        def loss():
            out = m(x)
            return F.cross_entropy(out['out'], y, ignore_index=255) + 0.5 * F.cross_entropy(out['aux'], y, ignore_index=255)
        return m, loss
    if case == 'fcos-finetune':
        import os
        from torchvision.models import resnet50
        from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
        from torchvision.models.detection.fcos import FCOS
        from torchvision.ops import misc as misc_nn_ops
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7
        size = int(os.environ.get('BENCH_DET_SIZE', '512'))
        body = resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
        m = FCOS(_resnet_fpn_extractor(body, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)), 91, min_size=size, max_size=size)
        x = list(torch.rand(4, 3, size, size))
        boxes = torch.tensor([[20, 30, 120, 160], [200, 40, 260, 300], [300, 300, 500, 480]], dtype=torch.float32) * size / 512
        targets = [{'boxes': boxes, 'labels': torch.tensor([1, 5, 17])} for _ in range(4)]
        def loss():
            return sum(m(x, targets).values())
        return m, loss
    if case == 'retinanet-finetune':
        import os
        from torchvision.models import resnet50
        from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
        from torchvision.models.detection.retinanet import RetinaNet
        from torchvision.ops import misc as misc_nn_ops
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7
        size = int(os.environ.get('BENCH_DET_SIZE', '512'))
        body = resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
        m = RetinaNet(_resnet_fpn_extractor(body, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)), 91, min_size=size, max_size=size)
        x = list(torch.rand(4, 3, size, size))
        boxes = torch.tensor([[20, 30, 120, 160], [200, 40, 260, 300], [300, 300, 500, 480]], dtype=torch.float32) * size / 512
        targets = [{'boxes': boxes, 'labels': torch.tensor([1, 5, 17])} for _ in range(4)]
        def loss():
            return sum(m(x, targets).values())
        return m, loss
    if case == 'ssdlite-finetune':
        from torchvision.models.detection import ssdlite320_mobilenet_v3_large
        m = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91)
        x = list(torch.rand(4, 3, 320, 320))
        boxes = torch.tensor([[20, 30, 120, 160], [200, 40, 260, 300], [300, 300, 500, 480]], dtype=torch.float32) * 320 / 512
        targets = [{'boxes': boxes, 'labels': torch.tensor([1, 5, 17])} for _ in range(4)]
        def loss():
            return sum(m(x, targets).values())
        return m, loss
    raise SystemExit(f'unknown case {case}')


model, loss_fn = build()
device = os.environ.get('TORCH_DEVICE', 'cpu')


def to_device(v):
    if torch.is_tensor(v):
        return v.to(device)
    if isinstance(v, list):
        return [to_device(u) for u in v]
    if isinstance(v, dict):
        return {k: to_device(u) for k, u in v.items()}
    return v


if device != 'cpu':
    model.to(device)
    for cell in loss_fn.__closure__ or ():  # the batch each case's loss closes over
        if not isinstance(cell.cell_contents, nn.Module):
            cell.cell_contents = to_device(cell.cell_contents)
sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
model.train()
decay = [p for n, p in model.named_parameters() if p.ndim > 1 and p.requires_grad]
no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1 and p.requires_grad]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.01}, {'params': no_decay, 'weight_decay': 0.0}], lr=1e-4)
times = []
for i in range(warmup + steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    opt.step()
    sync()
    times.append((time.perf_counter() - t0) * 1000)
times = sorted(times[warmup:])
print(json.dumps({'median_ms': times[len(times) // 2], 'loss': float(loss), 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
