"""PyTorch reference for the Hugging Face image-classification families finetune reads:
ResNet, ViT and MobileNetV2, as transformers' modeling_resnet.py, modeling_vit.py and
modeling_mobilenet_v2.py compute them (eager code paths, 4.4x).

Module attribute paths equal HF's parameter names, so the state_dict of each class here has exactly
the keys a `save_pretrained` of the HF class writes:

    ResNetForImageClassification       resnet.embedder.embedder.{convolution,normalization}.*,
                                       resnet.encoder.stages.S.layers.L.{shortcut,layer.K}.{convolution,normalization}.*,
                                       classifier.1.*
    ViTForImageClassification          vit.embeddings.{cls_token,position_embeddings,patch_embeddings.projection.*},
                                       vit.encoder.layer.N.{attention.attention.{query,key,value},attention.output.dense,
                                       intermediate.dense,output.dense,layernorm_before,layernorm_after}.*,
                                       vit.layernorm.*, classifier.*
    MobileNetV2ForImageClassification  mobilenet_v2.conv_stem.{first_conv,[expand_1x1],conv_3x3,reduce_1x1}.*,
                                       mobilenet_v2.layer.N.{expand_1x1,conv_3x3,reduce_1x1}.{convolution,normalization}.*,
                                       mobilenet_v2.conv_1x1.*, classifier.*

Quirks kept on purpose (they are HF's behaviour):
  - ResNet: only the stem and each block's output use `hidden_act`; the activations inside a block
    are always ReLU (ResNetConvLayer's default).
  - ResNet bottleneck: the stride sits on the 3x3 conv ("v1.5") unless downsample_in_bottleneck.
  - MobileNetV2: BatchNorm momentum is 0.997 in PyTorch's convention (the running statistics
    become almost the last batch's), eps = layer_norm_eps (1e-3); tf_padding pads asymmetrically
    as TensorFlow's "SAME" (more at the bottom/right) and then convolves without padding.
  - ViT: interpolate_pos_encoding resamples the patch grid with bicubic interpolation,
    align_corners=False, to size (H // patch, W // patch) (torchvision's interpolate_embeddings
    uses align_corners=True instead).

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14):

    /usr/bin/python3 scripts/hf_vision_reference.py     # cross-checks against torchvision, ~20 s

Public API:
    resnet_config / vit_config / mobilenet_v2_config(**overrides) -> dict (config.json with HF defaults)
    build_model(config) -> nn.Module  (by config["model_type"]; the *ForImageClassification class)
    model(pixel_values, labels=None, interpolate_pos_encoding=False) -> {"logits", "pooler_output", ["loss"]}
    HF_CLASSES: model_type -> HF class name
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- activations


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT2FN = {
    "gelu": F.gelu,
    "gelu_new": gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "relu6": F.relu6,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def act(name: str):
    if name not in ACT2FN:
        raise KeyError(f"activation {name!r} is not one of {sorted(ACT2FN)}")
    return ACT2FN[name]


# ----------------------------------------------------------------------------- configs


class Config(dict):
    """A config.json dict with attribute access."""

    def __getattr__(self, name):
        if name == "num_labels":
            return len(self["id2label"]) if "id2label" in self else 2
        if name in self:
            return self[name]
        raise AttributeError(f"config has no field {name!r}")


def labels_fields(names) -> dict:
    return {"id2label": {str(i): n for i, n in enumerate(names)}, "label2id": {n: i for i, n in enumerate(names)}}


def resnet_config(**overrides) -> dict:
    """ResNetConfig's defaults (microsoft/resnet-50)."""
    return {
        "architectures": ["ResNetForImageClassification"],
        "model_type": "resnet",
        "num_channels": 3,
        "embedding_size": 64,
        "hidden_sizes": [256, 512, 1024, 2048],
        "depths": [3, 4, 6, 3],
        "layer_type": "bottleneck",
        "hidden_act": "relu",
        "downsample_in_first_stage": False,
        "downsample_in_bottleneck": False,
        **labels_fields(["LABEL_0", "LABEL_1"]),
        **overrides,
    }


def vit_config(**overrides) -> dict:
    """ViTConfig's defaults (google/vit-base-patch16-224)."""
    return {
        "architectures": ["ViTForImageClassification"],
        "model_type": "vit",
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "image_size": 224,
        "patch_size": 16,
        "num_channels": 3,
        "qkv_bias": True,
        "encoder_stride": 16,
        **labels_fields(["LABEL_0", "LABEL_1"]),
        **overrides,
    }


def mobilenet_v2_config(**overrides) -> dict:
    """MobileNetV2Config's defaults (google/mobilenet_v2_1.0_224's architecture)."""
    return {
        "architectures": ["MobileNetV2ForImageClassification"],
        "model_type": "mobilenet_v2",
        "num_channels": 3,
        "image_size": 224,
        "depth_multiplier": 1.0,
        "depth_divisible_by": 8,
        "min_depth": 8,
        "expand_ratio": 6,
        "output_stride": 32,
        "first_layer_is_expansion": True,
        "finegrained_output": True,
        "hidden_act": "relu6",
        "tf_padding": True,
        "classifier_dropout_prob": 0.8,
        "initializer_range": 0.02,
        "layer_norm_eps": 0.001,
        "semantic_loss_ignore_index": 255,
        **labels_fields(["LABEL_0", "LABEL_1"]),
        **overrides,
    }


HF_CLASSES = {
    "resnet": "ResNetForImageClassification",
    "vit": "ViTForImageClassification",
    "mobilenet_v2": "MobileNetV2ForImageClassification",
}


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """HF's problem_type inference for integer labels with more than one class: cross entropy."""
    if num_labels == 1:
        return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
    return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))


# ----------------------------------------------------------------------------- ResNet


class ResNetConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1, activation: str | None = "relu"):
        super().__init__()
        self.convolution = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.normalization = nn.BatchNorm2d(cout)
        self.activation = act(activation) if activation is not None else None

    def forward(self, x):
        x = self.normalization(self.convolution(x))
        return self.activation(x) if self.activation is not None else x


class ResNetEmbeddings(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.embedder = ResNetConvLayer(c.num_channels, c.embedding_size, kernel_size=7, stride=2, activation=c.hidden_act)
        self.num_channels = c.num_channels

    def forward(self, x):
        if x.shape[1] != self.num_channels:
            raise ValueError("channel dimension does not match the config")
        return F.max_pool2d(self.embedder(x), kernel_size=3, stride=2, padding=1)


class ResNetShortCut(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 2):
        super().__init__()
        self.convolution = nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)
        self.normalization = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.normalization(self.convolution(x))


class ResNetBasicLayer(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, activation: str = "relu"):
        super().__init__()
        self.shortcut = ResNetShortCut(cin, cout, stride) if cin != cout or stride != 1 else None
        # the inner conv's activation is ResNetConvLayer's default ("relu"), not hidden_act
        self.layer = nn.Sequential(ResNetConvLayer(cin, cout, stride=stride), ResNetConvLayer(cout, cout, activation=None))
        self.activation = act(activation)

    def forward(self, x):
        residual = self.shortcut(x) if self.shortcut is not None else x
        return self.activation(self.layer(x) + residual)


class ResNetBottleNeckLayer(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, activation: str = "relu", reduction: int = 4, downsample_in_bottleneck: bool = False):
        super().__init__()
        reduced = cout // reduction
        self.shortcut = ResNetShortCut(cin, cout, stride) if cin != cout or stride != 1 else None
        self.layer = nn.Sequential(
            ResNetConvLayer(cin, reduced, kernel_size=1, stride=stride if downsample_in_bottleneck else 1),
            ResNetConvLayer(reduced, reduced, stride=1 if downsample_in_bottleneck else stride),
            ResNetConvLayer(reduced, cout, kernel_size=1, activation=None),
        )
        self.activation = act(activation)

    def forward(self, x):
        residual = self.shortcut(x) if self.shortcut is not None else x
        return self.activation(self.layer(x) + residual)


class ResNetStage(nn.Module):
    def __init__(self, c: Config, cin: int, cout: int, stride: int, depth: int):
        super().__init__()
        if c.layer_type == "bottleneck":
            first = ResNetBottleNeckLayer(cin, cout, stride=stride, activation=c.hidden_act, downsample_in_bottleneck=c.get("downsample_in_bottleneck", False))
            rest = [ResNetBottleNeckLayer(cout, cout, activation=c.hidden_act) for _ in range(depth - 1)]
        else:
            first = ResNetBasicLayer(cin, cout, stride=stride, activation=c.hidden_act)
            rest = [ResNetBasicLayer(cout, cout, activation=c.hidden_act) for _ in range(depth - 1)]
        self.layers = nn.Sequential(first, *rest)

    def forward(self, x):
        return self.layers(x)


class ResNetEncoder(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.stages = nn.ModuleList([ResNetStage(c, c.embedding_size, c.hidden_sizes[0], 2 if c.downsample_in_first_stage else 1, c.depths[0])])
        for (cin, cout), depth in zip(zip(c.hidden_sizes, c.hidden_sizes[1:]), c.depths[1:]):
            self.stages.append(ResNetStage(c, cin, cout, 2, depth))

    def forward(self, x):
        for s in self.stages:
            x = s(x)
        return x


class ResNetModel(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.embedder = ResNetEmbeddings(c)
        self.encoder = ResNetEncoder(c)

    def forward(self, x):
        h = self.encoder(self.embedder(x))
        return h, F.adaptive_avg_pool2d(h, (1, 1))


class ResNetForImageClassification(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.config = c = Config(config)
        self.resnet = ResNetModel(c)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c.hidden_sizes[-1], c.num_labels))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        # ResNetPreTrainedModel._init_weights; Linear keeps torch's default (kaiming_uniform, a=sqrt(5))
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)

    def forward(self, pixel_values, labels=None, interpolate_pos_encoding=False):
        _, pooled = self.resnet(pixel_values)
        logits = self.classifier(pooled)
        out = {"logits": logits, "pooler_output": pooled.flatten(1)}
        if labels is not None:
            out["loss"] = classification_loss(logits, labels, self.config.num_labels)
        return out


# ----------------------------------------------------------------------------- ViT


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.image_size, self.patch_size = c.image_size, c.patch_size
        self.num_channels = c.num_channels
        self.num_patches = (c.image_size // c.patch_size) ** 2
        self.projection = nn.Conv2d(c.num_channels, c.hidden_size, kernel_size=c.patch_size, stride=c.patch_size)

    def forward(self, x, interpolate_pos_encoding=False):
        _, ch, h, w = x.shape
        if ch != self.num_channels:
            raise ValueError("channel dimension does not match the config")
        if not interpolate_pos_encoding and (h != self.image_size or w != self.image_size):
            raise ValueError(f"Input image size ({h}*{w}) doesn't match model ({self.image_size}*{self.image_size}).")
        return self.projection(x).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, c.hidden_size))
        self.patch_embeddings = ViTPatchEmbeddings(c)
        self.position_embeddings = nn.Parameter(torch.randn(1, self.patch_embeddings.num_patches + 1, c.hidden_size))
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.patch_size = c.patch_size

    def interpolate_pos_encoding(self, embeddings, height, width):
        num_patches = embeddings.shape[1] - 1
        num_positions = self.position_embeddings.shape[1] - 1
        if num_patches == num_positions and height == width:
            return self.position_embeddings
        cls_pos = self.position_embeddings[:, :1]
        patch_pos = self.position_embeddings[:, 1:]
        dim = embeddings.shape[-1]
        side = int(num_positions**0.5)
        patch_pos = patch_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos, size=(height // self.patch_size, width // self.patch_size), mode="bicubic", align_corners=False)
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((cls_pos, patch_pos), dim=1)

    def forward(self, x, interpolate_pos_encoding=False):
        b, _, h, w = x.shape
        e = self.patch_embeddings(x, interpolate_pos_encoding=interpolate_pos_encoding)
        e = torch.cat((self.cls_token.expand(b, -1, -1), e), dim=1)
        e = e + (self.interpolate_pos_encoding(e, h, w) if interpolate_pos_encoding else self.position_embeddings)
        return self.dropout(e)


class ViTSelfAttention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        if c.hidden_size % c.num_attention_heads:
            raise ValueError("hidden_size is not a multiple of num_attention_heads")
        self.heads = c.num_attention_heads
        self.head_size = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size, bias=c.qkv_bias)
        self.key = nn.Linear(c.hidden_size, c.hidden_size, bias=c.qkv_bias)
        self.value = nn.Linear(c.hidden_size, c.hidden_size, bias=c.qkv_bias)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_size).permute(0, 2, 1, 3)  # (B, nh, T, hd)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.head_size**-0.5
        p = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()  # (B, T, nh, hd)
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)


class ViTSelfOutput(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x):
        return self.dropout(self.dense(x))


class ViTAttention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.attention = ViTSelfAttention(c)
        self.output = ViTSelfOutput(c)

    def forward(self, x):
        return self.output(self.attention(x))


class ViTIntermediate(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.fn = act(c.hidden_act)

    def forward(self, x):
        return self.fn(self.dense(x))


class ViTOutput(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.dropout(self.dense(x)) + residual


class ViTLayer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.attention = ViTAttention(c)
        self.intermediate = ViTIntermediate(c)
        self.output = ViTOutput(c)
        self.layernorm_before = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x):
        h = self.attention(self.layernorm_before(x)) + x
        return self.output(self.intermediate(self.layernorm_after(h)), h)


class ViTEncoder(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.layer = nn.ModuleList([ViTLayer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x):
        for layer in self.layer:
            x = layer(x)
        return x


class ViTPooler(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class ViTModel(nn.Module):
    """ViTModel; ViTForImageClassification builds it with add_pooling_layer=False."""

    def __init__(self, c: Config, add_pooling_layer: bool = True):
        super().__init__()
        self.embeddings = ViTEmbeddings(c)
        self.encoder = ViTEncoder(c)
        self.layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.pooler = ViTPooler(c) if add_pooling_layer else None

    def forward(self, x, interpolate_pos_encoding=False):
        h = self.layernorm(self.encoder(self.embeddings(x, interpolate_pos_encoding=interpolate_pos_encoding)))
        return h, (self.pooler(h) if self.pooler is not None else None)


class ViTForImageClassification(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.config = c = Config(config)
        self.vit = ViTModel(c, add_pooling_layer=False)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        # ViTPreTrainedModel._init_weights (trunc_normal_ cuts at +-2 absolute: never at std 0.02)
        r = self.config.initializer_range
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=r)
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.LayerNorm):
            m.bias.data.zero_()
            m.weight.data.fill_(1.0)
        elif isinstance(m, ViTEmbeddings):
            nn.init.trunc_normal_(m.position_embeddings, mean=0.0, std=r)
            nn.init.trunc_normal_(m.cls_token, mean=0.0, std=r)

    def forward(self, pixel_values, labels=None, interpolate_pos_encoding=False):
        h, _ = self.vit(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)
        logits = self.classifier(h[:, 0, :])
        out = {"logits": logits, "pooler_output": h[:, 0, :]}
        if labels is not None:
            out["loss"] = classification_loss(logits, labels, self.config.num_labels)
        return out


# ----------------------------------------------------------------------------- MobileNetV2


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return int(new_value)


def apply_depth_multiplier(c: Config, channels: int) -> int:
    # Python's round: halves go to the even neighbour
    return make_divisible(int(round(channels * c.depth_multiplier)), c.depth_divisible_by, c.min_depth)


def tf_same_padding(h: int, w: int, conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) as HF's apply_tf_padding computes them."""
    (sh, sw), (kh, kw), (dh, dw) = conv.stride, conv.kernel_size, conv.dilation
    ph = max(kh - sh, 0) if h % sh == 0 else max(kh - h % sh, 0)
    pw = max(kw - sw, 0) if w % sw == 0 else max(kw - w % sw, 0)
    return (pw // 2) * dw, (pw - pw // 2) * dw, (ph // 2) * dh, (ph - ph // 2) * dh


class MobileNetV2ConvLayer(nn.Module):
    def __init__(self, c: Config, cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1, dilation: int = 1, use_activation: bool = True):
        super().__init__()
        self.tf_padding = c.tf_padding
        padding = 0 if c.tf_padding else int((kernel_size - 1) / 2) * dilation
        self.convolution = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=False)
        self.normalization = nn.BatchNorm2d(cout, eps=c.layer_norm_eps, momentum=0.997)
        self.activation = act(c.hidden_act) if use_activation else None

    def forward(self, x):
        if self.tf_padding:
            x = F.pad(x, tf_same_padding(x.shape[-2], x.shape[-1], self.convolution))
        x = self.normalization(self.convolution(x))
        return self.activation(x) if self.activation is not None else x


class MobileNetV2InvertedResidual(nn.Module):
    def __init__(self, c: Config, cin: int, cout: int, stride: int, dilation: int = 1):
        super().__init__()
        expanded = make_divisible(int(round(cin * c.expand_ratio)), c.depth_divisible_by, c.min_depth)
        if stride not in (1, 2):
            raise ValueError(f"Invalid stride {stride}.")
        self.use_residual = stride == 1 and cin == cout
        self.expand_1x1 = MobileNetV2ConvLayer(c, cin, expanded, 1)
        self.conv_3x3 = MobileNetV2ConvLayer(c, expanded, expanded, 3, stride=stride, groups=expanded, dilation=dilation)
        self.reduce_1x1 = MobileNetV2ConvLayer(c, expanded, cout, 1, use_activation=False)

    def forward(self, x):
        h = self.reduce_1x1(self.conv_3x3(self.expand_1x1(x)))
        return x + h if self.use_residual else h


class MobileNetV2Stem(nn.Module):
    def __init__(self, c: Config, cin: int, expanded: int, cout: int):
        super().__init__()
        self.first_conv = MobileNetV2ConvLayer(c, cin, expanded, 3, stride=2)
        self.expand_1x1 = None if c.first_layer_is_expansion else MobileNetV2ConvLayer(c, expanded, expanded, 1)
        self.conv_3x3 = MobileNetV2ConvLayer(c, expanded, expanded, 3, stride=1, groups=expanded)
        self.reduce_1x1 = MobileNetV2ConvLayer(c, expanded, cout, 1, use_activation=False)

    def forward(self, x):
        x = self.first_conv(x)
        if self.expand_1x1 is not None:
            x = self.expand_1x1(x)
        return self.reduce_1x1(self.conv_3x3(x))


MOBILENET_V2_CHANNELS = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
MOBILENET_V2_STRIDES = [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]


class MobileNetV2Model(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        channels = [apply_depth_multiplier(c, x) for x in MOBILENET_V2_CHANNELS]
        self.conv_stem = MobileNetV2Stem(c, c.num_channels, apply_depth_multiplier(c, 32), channels[0])
        current_stride, dilation = 2, 1
        self.layer = nn.ModuleList()
        for i in range(16):
            # past output_stride, strides turn into dilation from the next block on
            if current_stride == c.output_stride:
                layer_stride, layer_dilation = 1, dilation
                dilation *= MOBILENET_V2_STRIDES[i]
            else:
                layer_stride, layer_dilation = MOBILENET_V2_STRIDES[i], 1
                current_stride *= layer_stride
            self.layer.append(MobileNetV2InvertedResidual(c, channels[i], channels[i + 1], layer_stride, layer_dilation))
        out = 1280 if c.finegrained_output and c.depth_multiplier < 1.0 else apply_depth_multiplier(c, 1280)
        self.conv_1x1 = MobileNetV2ConvLayer(c, channels[-1], out, 1)

    def forward(self, x):
        h = self.conv_stem(x)
        for layer in self.layer:
            h = layer(h)
        h = self.conv_1x1(h)
        return h, F.adaptive_avg_pool2d(h, (1, 1)).flatten(1)


class MobileNetV2ForImageClassification(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.config = c = Config(config)
        self.mobilenet_v2 = MobileNetV2Model(c)
        self.dropout = nn.Dropout(c.classifier_dropout_prob)
        self.classifier = nn.Linear(self.mobilenet_v2.conv_1x1.convolution.out_channels, c.num_labels)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.bias.data.zero_()
            m.weight.data.fill_(1.0)

    def forward(self, pixel_values, labels=None, interpolate_pos_encoding=False):
        _, pooled = self.mobilenet_v2(pixel_values)
        logits = self.classifier(self.dropout(pooled))
        out = {"logits": logits, "pooler_output": pooled}
        if labels is not None:
            out["loss"] = classification_loss(logits, labels, self.config.num_labels)
        return out


def build_model(config: dict) -> nn.Module:
    t = config["model_type"]
    if t == "resnet":
        return ResNetForImageClassification(config)
    if t == "vit":
        return ViTForImageClassification(config)
    if t == "mobilenet_v2":
        return MobileNetV2ForImageClassification(config)
    raise KeyError(f"model_type {t!r} is not one of {sorted(HF_CLASSES)}")


# ----------------------------------------------------------------------------- validation against torchvision


def _fill(model: nn.Module, seed: int) -> None:
    """Random weights and BatchNorm statistics, so eval mode exercises the running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g, dtype=torch.float64))
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g, dtype=torch.float64))
            elif t.dim() == 1:
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=g, dtype=torch.float64))
            else:
                fan_in = t[0].numel() if t.dim() > 1 else 1
                t.copy_(torch.randn(t.shape, generator=g, dtype=torch.float64) * math.sqrt(2 / fan_in))


def resnet_tv_to_hf(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        if p[0] in ("conv1", "bn1"):
            out["resnet.embedder.embedder." + ("convolution" if p[0] == "conv1" else "normalization") + "." + p[1]] = v
        elif p[0] == "fc":
            out["classifier.1." + p[1]] = v
        else:
            stage, layer = int(p[0][len("layer"):]) - 1, p[1]
            base = f"resnet.encoder.stages.{stage}.layers.{layer}."
            if p[2] == "downsample":
                out[base + "shortcut." + ("convolution" if p[3] == "0" else "normalization") + "." + p[4]] = v
            else:
                k_idx = int(p[2][-1]) - 1
                out[base + f"layer.{k_idx}." + ("convolution" if p[2].startswith("conv") else "normalization") + "." + p[3]] = v
    return out


def vit_tv_to_hf(sd: dict, layers: int) -> dict:
    out = {
        "vit.embeddings.cls_token": sd["class_token"],
        "vit.embeddings.position_embeddings": sd["encoder.pos_embedding"],
        "vit.embeddings.patch_embeddings.projection.weight": sd["conv_proj.weight"],
        "vit.embeddings.patch_embeddings.projection.bias": sd["conv_proj.bias"],
        "vit.layernorm.weight": sd["encoder.ln.weight"],
        "vit.layernorm.bias": sd["encoder.ln.bias"],
        "classifier.weight": sd["heads.head.weight"],
        "classifier.bias": sd["heads.head.bias"],
    }
    for i in range(layers):
        t, h = f"encoder.layers.encoder_layer_{i}.", f"vit.encoder.layer.{i}."
        for name, w, b in zip(("query", "key", "value"), sd[t + "self_attention.in_proj_weight"].chunk(3), sd[t + "self_attention.in_proj_bias"].chunk(3)):
            out[h + f"attention.attention.{name}.weight"] = w
            out[h + f"attention.attention.{name}.bias"] = b
        pairs = {"self_attention.out_proj": "attention.output.dense", "mlp.0": "intermediate.dense", "mlp.3": "output.dense", "ln_1": "layernorm_before", "ln_2": "layernorm_after"}
        for a, b in pairs.items():
            out[h + b + ".weight"] = sd[t + a + ".weight"]
            out[h + b + ".bias"] = sd[t + a + ".bias"]
    return out


def mobilenet_v2_tv_to_hf(sd: dict) -> dict:
    out = {}
    bn_or_conv = lambda i: "convolution" if i == "0" else "normalization"  # noqa: E731
    for k, v in sd.items():
        p = k.split(".")
        if p[0] == "classifier":
            out["classifier." + p[2]] = v
            continue
        f = int(p[1])
        if f == 0:
            out[f"mobilenet_v2.conv_stem.first_conv.{bn_or_conv(p[2])}.{p[3]}"] = v
        elif f == 18:
            out[f"mobilenet_v2.conv_1x1.{bn_or_conv(p[2])}.{p[3]}"] = v
        else:
            base = "mobilenet_v2.conv_stem." if f == 1 else f"mobilenet_v2.layer.{f - 2}."
            # features.N.conv: [expand ConvBNReLU (t > 1)], depthwise ConvBNReLU, project conv, project bn
            seq = ["conv_3x3", "reduce_1x1"] if f == 1 else ["expand_1x1", "conv_3x3", "reduce_1x1"]
            i = int(p[3])
            if i < len(seq) - 1:
                out[f"{base}{seq[i]}.{bn_or_conv(p[4])}.{p[5]}"] = v
            else:
                out[f"{base}reduce_1x1.{'convolution' if i == len(seq) - 1 else 'normalization'}.{p[4]}"] = v
    return out


def _compare(name: str, tv: nn.Module, hf: nn.Module, size: int, results: list, train_too: bool = True) -> None:
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for mode in ("eval", "train") if train_too else ("eval",):
        tv.train(mode == "train")
        hf.train(mode == "train")
        with torch.no_grad():
            a = tv(x)
            b = hf(x)["logits"]
        err = ((a - b).abs().max() / a.abs().max()).item()
        results.append((f"{name} {mode} logits", err))


def validate() -> bool:
    import torchvision.models as tvm
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    results: list = []

    # ResNet-18 (basic) and ResNet-50 (bottleneck, stride on the 3x3 as torchvision's v1.5)
    for arch, cfg in (
        ("resnet18", resnet_config(layer_type="basic", hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], **labels_fields([f"c{i}" for i in range(10)]))),
        ("resnet50", resnet_config(**labels_fields([f"c{i}" for i in range(10)]))),
    ):
        tv = getattr(tvm, arch)(num_classes=10).double()
        _fill(tv, 3)
        hf = build_model(cfg).double()
        mapped = resnet_tv_to_hf(tv.state_dict())
        assert set(mapped) == set(hf.state_dict()), arch
        hf.load_state_dict(mapped, strict=True)
        _compare(f"{arch} vs ResNetForImageClassification", tv, hf, 64, results)

    # ViT: a small torchvision VisionTransformer and ViT-B/16 at 64x64; LayerNorm eps 1e-6 as torchvision
    for label, tv_kw, cfg_kw in (
        ("vit tiny (32px, patch 8, 2 layers, width 16)", dict(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32), dict(image_size=32, patch_size=8, num_hidden_layers=2, num_attention_heads=2, hidden_size=16, intermediate_size=32)),
        ("vit_b_16 at 64px", dict(image_size=64, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072), dict(image_size=64)),
    ):
        tv = VisionTransformer(num_classes=5, **tv_kw).double()
        _fill(tv, 4)
        for eps in (1e-6, 1e-12):
            cfg = vit_config(layer_norm_eps=eps, **cfg_kw, **labels_fields([f"c{i}" for i in range(5)]))
            hf = build_model(cfg).double()
            mapped = vit_tv_to_hf(tv.state_dict(), tv_kw["num_layers"])
            assert set(mapped) == set(hf.state_dict()), label
            hf.load_state_dict(mapped, strict=True)
            _compare(f"{label} vs ViTForImageClassification, layer_norm_eps={eps:g}", tv, hf, tv_kw["image_size"], results, train_too=False)

    # MobileNetV2 with torchvision's padding and BatchNorm eps (tf_padding=False, layer_norm_eps=1e-5)
    for width in (1.0, 0.5):
        tv = tvm.mobilenet_v2(num_classes=10, width_mult=width).double()
        _fill(tv, 5)
        cfg = mobilenet_v2_config(depth_multiplier=width, tf_padding=False, layer_norm_eps=1e-5, classifier_dropout_prob=0.0, **labels_fields([f"c{i}" for i in range(10)]))
        hf = build_model(cfg).double()
        mapped = mobilenet_v2_tv_to_hf(tv.state_dict())
        assert set(mapped) == set(hf.state_dict()), width
        hf.load_state_dict(mapped, strict=True)
        tv.classifier[0].p = 0.0
        _compare(f"mobilenet_v2 width {width} vs MobileNetV2ForImageClassification (tf_padding=False)", tv, hf, 64, results)

    # ViT position embeddings for another image size: HF's bicubic (align_corners=False) against
    # torchvision's interpolate_embeddings (align_corners=True) on a 4x4 grid resampled to 6x6
    from torchvision.models.vision_transformer import interpolate_embeddings

    pe = torch.randn(1, 17, 8, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    emb = ViTEmbeddings(Config(vit_config(hidden_size=8, image_size=32, patch_size=8))).double()
    with torch.no_grad():
        emb.position_embeddings.copy_(pe)
        hf_pe = emb.interpolate_pos_encoding(torch.zeros(1, 37, 8, dtype=torch.float64), 48, 48)
    tv_pe = interpolate_embeddings(48, 8, {"encoder.pos_embedding": pe})["encoder.pos_embedding"]
    results.append(("vit position embeddings 4x4 -> 6x6: HF interpolate_pos_encoding vs torchvision interpolate_embeddings", ((hf_pe - tv_pe).abs().max() / pe.abs().max()).item()))

    # tf_padding against TensorFlow's definition of "SAME": output ceil(in / stride), the total
    # padding max((out - 1) * stride + k - in, 0) split with the extra pixel after
    worst_pad = 0
    for n in range(1, 40):
        for k in (1, 3):
            for s in (1, 2):
                conv = nn.Conv2d(1, 1, k, stride=s)
                left, right, top, bottom = tf_same_padding(n, n, conv)
                out = -(-n // s)
                total = max((out - 1) * s + k - n, 0)
                worst_pad = max(worst_pad, abs(left - total // 2) + abs(right - (total - total // 2)))
                got = (n + left + right - k) // s + 1
                worst_pad = max(worst_pad, abs(got - out))
    results.append(("tf_padding vs TensorFlow SAME (sizes 1..39, k 1/3, stride 1/2): max pad/size difference", float(worst_pad)))

    ok = True
    for name, err in results:
        tol = 1e-10
        # LayerNorm eps 1e-12 vs torchvision's 1e-6 is a real (small) difference, reported only
        status = "info" if "1e-12" in name or "interpolate_embeddings" in name else ("ok" if err <= tol else "FAIL")
        ok &= status != "FAIL"
        print(f"{status:4}  {err:.3e}  {name}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if validate() else 1)
