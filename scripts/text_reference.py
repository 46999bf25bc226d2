"""PyTorch reference for the text families finetune implements: BERT, DistilBERT, RoBERTa, GPT-2.

A re-implementation of the eager ("attn_implementation='eager'") code paths of Hugging Face
transformers 4.3x (modeling_bert.py, modeling_distilbert.py, modeling_roberta.py,
modeling_gpt2.py), written so that module attribute paths equal HF's parameter names: the
state_dict of every class here has exactly the keys a `save_pretrained` of the HF class writes.
Only what fine-tuning needs is here: no KV cache, cross-attention, head pruning, gradient
checkpointing or output_attentions.

Run with Debian's /usr/bin/python3 (torch 1.13). Used by gen_text_goldens.py and
validate_text_reference.py.

Public API:
    ACT2FN                                   activation name -> callable (HF names)
    Config(dict)                             attribute access to a config.json dict
    bert_config / distilbert_config / roberta_config / gpt2_config(**overrides) -> dict
    build_model(family, head, config) -> nn.Module
        family: 'bert' | 'distilbert' | 'roberta' | 'gpt2'
        head:   'base' | 'sequence-classification' | 'token-classification' | 'causal-lm' | 'masked-lm'
    model(input_ids, attention_mask=None, token_type_ids=None, labels=None) -> dict
        base: {'last_hidden_state', 'hidden_states', ['pooler_output']}
        heads: {'logits', 'loss' (when labels given)}
    sequence_classification_loss(logits, labels, config) -> (loss, problem_type)
    trainer_decay_parameter_names(model) -> list[str]   (HF Trainer's weight-decay grouping)
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- activations


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    """HF NewGELUActivation ("gelu_new"): the tanh approximation used by GPT-2 and BERT's TF port."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gelu_fast(x: torch.Tensor) -> torch.Tensor:
    """HF FastGELUActivation ("gelu_fast")."""
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


ACT2FN = {
    "gelu": F.gelu,  # exact, erf-based (HF GELUActivation)
    "gelu_new": gelu_new,
    "gelu_fast": gelu_fast,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "tanh": torch.tanh,
    "silu": F.silu,
    "swish": F.silu,
}


def get_activation(name: str):
    if name not in ACT2FN:
        raise KeyError(f"activation {name!r} is not one of {sorted(ACT2FN)}")
    return ACT2FN[name]


# ----------------------------------------------------------------------------- configs


class Config(dict):
    """A config.json dict with attribute access; HF's attribute_map aliases resolve too."""

    _aliases = {
        "gpt2": {
            "hidden_size": "n_embd",
            "max_position_embeddings": "n_positions",
            "num_attention_heads": "n_head",
            "num_hidden_layers": "n_layer",
        },
        "distilbert": {
            "hidden_size": "dim",
            "num_attention_heads": "n_heads",
            "num_hidden_layers": "n_layers",
        },
    }

    def __getattr__(self, name):
        alias = self._aliases.get(self.get("model_type", ""), {}).get(name)
        if alias is not None:
            return self[alias]
        if name == "num_labels":
            return len(self["id2label"]) if "id2label" in self else 2
        if name in self:
            return self[name]
        raise AttributeError(f"config has no field {name!r}")


def _labels(n: int, names: Optional[list] = None) -> dict:
    names = names or [f"LABEL_{i}" for i in range(n)]
    return {
        "id2label": {str(i): names[i] for i in range(n)},
        "label2id": {names[i]: i for i in range(n)},
    }


def bert_config(**overrides) -> dict:
    """config.json of a BertFor* model as transformers 4.3x writes it (keys sorted)."""
    cfg = {
        "architectures": ["BertForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 768,
        **_labels(2),
        "initializer_range": 0.02,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.38.2",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": 30522,
    }
    cfg.update(overrides)
    return dict(sorted(cfg.items()))


def roberta_config(**overrides) -> dict:
    cfg = bert_config()
    cfg.update(
        {
            "architectures": ["RobertaForSequenceClassification"],
            "bos_token_id": 0,
            "eos_token_id": 2,
            "layer_norm_eps": 1e-05,
            "max_position_embeddings": 514,
            "model_type": "roberta",
            "pad_token_id": 1,
            "type_vocab_size": 1,
            "vocab_size": 50265,
        }
    )
    cfg.update(overrides)
    return dict(sorted(cfg.items()))


def distilbert_config(**overrides) -> dict:
    cfg = {
        "activation": "gelu",
        "architectures": ["DistilBertForSequenceClassification"],
        "attention_dropout": 0.1,
        "dim": 768,
        "dropout": 0.1,
        "hidden_dim": 3072,
        **_labels(2),
        "initializer_range": 0.02,
        "max_position_embeddings": 512,
        "model_type": "distilbert",
        "n_heads": 12,
        "n_layers": 6,
        "pad_token_id": 0,
        "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2,
        "sinusoidal_pos_embds": False,
        "tie_weights_": True,
        "torch_dtype": "float32",
        "transformers_version": "4.38.2",
        "vocab_size": 30522,
    }
    cfg.update(overrides)
    return dict(sorted(cfg.items()))


def gpt2_config(**overrides) -> dict:
    cfg = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 50256,
        "embd_pdrop": 0.1,
        "eos_token_id": 50256,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_embd": 768,
        "n_head": 12,
        "n_inner": None,
        "n_layer": 12,
        "n_positions": 1024,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": "float32",
        "transformers_version": "4.38.2",
        "use_cache": True,
        "vocab_size": 50257,
    }
    cfg.update(overrides)
    return dict(sorted(cfg.items()))


def extended_attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """HF get_extended_attention_mask for an encoder: (B, T) of 1/0 -> (B, 1, 1, T) additive, 0 or dtype-min."""
    ext = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - ext) * torch.finfo(dtype).min


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config: Config):
    """The loss HF *ForSequenceClassification computes, with HF's problem_type inference."""
    num_labels = config.num_labels
    problem_type = config.get("problem_type")
    if problem_type is None:
        if num_labels == 1:
            problem_type = "regression"
        elif num_labels > 1 and labels.dtype in (torch.long, torch.int):
            problem_type = "single_label_classification"
        else:
            problem_type = "multi_label_classification"
    if problem_type == "regression":
        if num_labels == 1:
            loss = F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
        else:
            loss = F.mse_loss(logits, labels.to(logits.dtype))
    elif problem_type == "single_label_classification":
        loss = F.cross_entropy(logits.view(-1, num_labels), labels.view(-1), ignore_index=-100)
    elif problem_type == "multi_label_classification":
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    else:
        raise ValueError(f"unknown problem_type {problem_type!r}")
    return loss, problem_type


def token_classification_loss(logits: torch.Tensor, labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """HF *ForTokenClassification: mean cross-entropy over positions whose label is not -100."""
    return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1), ignore_index=-100)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """HF GPT2LMHeadModel: logits at t predict labels at t+1; -100 is ignored; mean over the rest."""
    shift_logits = logits[..., :-1, :].contiguous()  # (B, T-1, V)
    shift_labels = labels[..., 1:].contiguous()  # (B, T-1)
    return F.cross_entropy(
        shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1), ignore_index=-100
    )


# ----------------------------------------------------------------------------- BERT / RoBERTa


class BertEmbeddings(nn.Module):
    def __init__(self, config: Config, roberta: bool = False):
        super().__init__()
        self.roberta = roberta
        self.padding_idx = config.pad_token_id
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        # RoBERTa gives its position table a padding_idx too (padded positions use row padding_idx)
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings,
            config.hidden_size,
            padding_idx=config.pad_token_id if roberta else None,
        )
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise NotImplementedError("only position_embedding_type='absolute' is implemented")

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.roberta:
            # create_position_ids_from_input_ids: padding tokens keep padding_idx, the others count
            # from padding_idx + 1 (fairseq's make_positions)
            mask = input_ids.ne(self.padding_idx).int()
            incremental = torch.cumsum(mask, dim=1).type_as(mask) * mask
            return incremental.long() + self.padding_idx
        T = input_ids.shape[1]
        return torch.arange(T, device=input_ids.device).unsqueeze(0).expand_as(input_ids)

    def forward(self, input_ids: torch.Tensor, token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)  # (B, T, C)
        x = x + self.position_embeddings(self.position_ids(input_ids))
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        if config.hidden_size % config.num_attention_heads != 0:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        all_head = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, all_head)
        self.key = nn.Linear(config.hidden_size, all_head)
        self.value = nn.Linear(config.hidden_size, all_head)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_attention_heads, self.attention_head_size).permute(0, 2, 1, 3)  # (B, nh, T, hd)

    def forward(self, hidden: torch.Tensor, ext_mask: Optional[torch.Tensor]) -> torch.Tensor:
        q = self.split_heads(self.query(hidden))
        k = self.split_heads(self.key(hidden))
        v = self.split_heads(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)  # (B, nh, T, T)
        if ext_mask is not None:
            scores = scores + ext_mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()  # (B, T, nh, hd)
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)  # (B, T, C)


class BertSelfOutput(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden: torch.Tensor, ext_mask: Optional[torch.Tensor]) -> torch.Tensor:
        return self.output(self.self(hidden, ext_mask), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = get_activation(config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(hidden))


class BertOutput(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertLayer(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden: torch.Tensor, ext_mask: Optional[torch.Tensor]) -> torch.Tensor:
        attn = self.attention(hidden, ext_mask)
        return self.output(self.intermediate(attn), attn)


class BertEncoder(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])


class BertPooler(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # first token


class BertModel(nn.Module):
    """BertModel / RobertaModel (roberta=True only changes the position ids and padding rows)."""

    def __init__(self, config: Config, add_pooling_layer: bool = True, roberta: bool = False):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config, roberta=roberta)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        ext = extended_attention_mask(attention_mask, x.dtype)
        hidden_states = [x]
        for layer in self.encoder.layer:
            x = layer(x, ext)
            hidden_states.append(x)
        out = {"last_hidden_state": x, "hidden_states": hidden_states}
        if self.pooler is not None:
            out["pooler_output"] = self.pooler(x)
        return out


def RobertaModel(config: Config, add_pooling_layer: bool = True) -> BertModel:
    return BertModel(config, add_pooling_layer=add_pooling_layer, roberta=True)


def _classifier_dropout(config: Config) -> float:
    cd = config.get("classifier_dropout")
    return config.hidden_dropout_prob if cd is None else cd


class BertForSequenceClassification(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        pooled = self.bert(input_ids, attention_mask, token_type_ids)["pooler_output"]
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        out = {"logits": logits}
        if labels is not None:
            out["loss"], out["problem_type"] = sequence_classification_loss(logits, labels, self.config)
        return out


class BertForTokenClassification(nn.Module):
    def __init__(self, config: Config, roberta: bool = False):
        super().__init__()
        self.config = config
        base = BertModel(config, add_pooling_layer=False, roberta=roberta)
        setattr(self, "roberta" if roberta else "bert", base)
        self._base_name = "roberta" if roberta else "bert"
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        hidden = getattr(self, self._base_name)(input_ids, attention_mask, token_type_ids)["last_hidden_state"]
        logits = self.classifier(self.dropout(hidden))  # (B, T, num_labels)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = token_classification_loss(logits, labels, self.config.num_labels)
        return out


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = get_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden)))


class BertLMPredictionHead(nn.Module):
    """HF ties decoder.bias to bias; here the decoder has no bias of its own and bias is added, the same sum."""

    def __init__(self, config: Config):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden)) + self.bias


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)


class BertForMaskedLM(nn.Module):
    """BertModel without pooler + cls.predictions; the decoder weight is the word embeddings (tied)."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight  # tied

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        hidden = self.bert(input_ids, attention_mask, token_type_ids)["last_hidden_state"]
        logits = self.cls.predictions(hidden)  # (B, T, V)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.view(-1), ignore_index=-100)
        return out


class RobertaClassificationHead(nn.Module):
    """<s> token -> dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, config: Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.dropout(features[:, 0, :])
        x = torch.tanh(self.dense(x))
        return self.out_proj(self.dropout(x))


class RobertaForSequenceClassification(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.classifier = RobertaClassificationHead(config)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        hidden = self.roberta(input_ids, attention_mask, token_type_ids)["last_hidden_state"]
        logits = self.classifier(hidden)
        out = {"logits": logits}
        if labels is not None:
            out["loss"], out["problem_type"] = sequence_classification_loss(logits, labels, self.config)
        return out


def RobertaForTokenClassification(config: Config) -> BertForTokenClassification:
    return BertForTokenClassification(config, roberta=True)


# ----------------------------------------------------------------------------- DistilBERT


class DistilEmbeddings(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        if config.get("sinusoidal_pos_embds"):
            raise NotImplementedError("sinusoidal_pos_embds=true is not implemented")
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=1e-12)  # hard-coded in HF, not from config
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        pos = torch.arange(T, device=input_ids.device).unsqueeze(0)  # (1, T)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos)  # (B, T, C)
        return self.dropout(self.LayerNorm(x))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.n_heads = config.n_heads
        self.dim = config.dim
        self.dropout = nn.Dropout(config.attention_dropout)
        self.q_lin = nn.Linear(config.dim, config.dim)
        self.k_lin = nn.Linear(config.dim, config.dim)
        self.v_lin = nn.Linear(config.dim, config.dim)
        self.out_lin = nn.Linear(config.dim, config.dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        hd = C // self.n_heads

        def shape(t):
            return t.view(B, -1, self.n_heads, hd).transpose(1, 2)  # (B, nh, T, hd)

        q = shape(self.q_lin(x)) / math.sqrt(hd)  # DistilBERT scales q before the product
        k = shape(self.k_lin(x))
        v = shape(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))  # (B, nh, T, T)
        masked = (mask == 0).view(B, 1, 1, T).expand_as(scores)
        scores = scores.masked_fill(masked, torch.tensor(torch.finfo(scores.dtype).min))
        w = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(w, v).transpose(1, 2).contiguous().view(B, -1, C)  # (B, T, C)
        return self.out_lin(ctx)


class FFN(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.lin1 = nn.Linear(config.dim, config.hidden_dim)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim)
        self.activation = get_activation(config.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.lin2(self.activation(self.lin1(x))))


class TransformerBlock(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class DistilTransformer(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock(config) for _ in range(config.n_layers)])


class DistilBertModel(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.embeddings = DistilEmbeddings(config)
        self.transformer = DistilTransformer(config)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids)
        hidden_states = [x]
        for layer in self.transformer.layer:
            x = layer(x, attention_mask)
            hidden_states.append(x)
        return {"last_hidden_state": x, "hidden_states": hidden_states}


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        hidden = self.distilbert(input_ids, attention_mask)["last_hidden_state"]
        pooled = F.relu(self.pre_classifier(hidden[:, 0]))  # (B, C)
        logits = self.classifier(self.dropout(pooled))
        out = {"logits": logits}
        if labels is not None:
            out["loss"], out["problem_type"] = sequence_classification_loss(logits, labels, self.config)
        return out


class DistilBertForTokenClassification(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dim, config.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        hidden = self.distilbert(input_ids, attention_mask)["last_hidden_state"]
        logits = self.classifier(self.dropout(hidden))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = token_classification_loss(logits, labels, self.config.num_labels)
        return out


# ----------------------------------------------------------------------------- GPT-2


class Conv1D(nn.Module):
    """HF Conv1D: a linear layer whose weight is stored (in_features, out_features): y = x @ W + b."""

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size_out = x.size()[:-1] + (self.nf,)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)


class GPT2Attention(nn.Module):
    def __init__(self, config: Config, layer_idx: int):
        super().__init__()
        self.embed_dim = config.n_embd
        self.num_heads = config.n_head
        self.head_dim = self.embed_dim // self.num_heads
        self.scale_attn_weights = config.get("scale_attn_weights", True)
        self.scale_by_layer = config.get("scale_attn_by_inverse_layer_idx", False)
        self.layer_idx = layer_idx
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)
        # HF keeps the causal mask in a non-persistent buffer "bias"; it is built on the fly here

    def forward(self, x: torch.Tensor, ext_mask: Optional[torch.Tensor]) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.embed_dim, dim=2)

        def split_heads(t):
            return t.view(B, T, self.num_heads, self.head_dim).permute(0, 2, 1, 3)  # (B, nh, T, hd)

        q, k, v = split_heads(q), split_heads(k), split_heads(v)
        w = torch.matmul(q, k.transpose(-1, -2))  # (B, nh, T, T)
        if self.scale_attn_weights:
            w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype)
        if self.scale_by_layer:
            w = w / float(self.layer_idx + 1)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device)).view(1, 1, T, T)
        w = torch.where(causal, w, torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
        if ext_mask is not None:
            w = w + ext_mask
        w = self.attn_dropout(F.softmax(w, dim=-1))
        a = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(a))


class GPT2MLP(nn.Module):
    def __init__(self, intermediate: int, config: Config):
        super().__init__()
        self.c_fc = Conv1D(intermediate, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, intermediate)
        self.act = get_activation(config.activation_function)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, config: Config, layer_idx: int):
        super().__init__()
        inner = config.get("n_inner") or 4 * config.n_embd
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner, config)

    def forward(self, x: torch.Tensor, ext_mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), ext_mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        B, T = input_ids.shape
        # positions are 0..T-1 whatever the padding (HF computes them from the cache length only)
        pos = torch.arange(T, device=input_ids.device).unsqueeze(0)  # (1, T)
        x = self.wte(input_ids) + self.wpe(pos)
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids)  # GPT-2 embeds token types with the token table
        x = self.drop(x)
        ext = None
        if attention_mask is not None:
            ext = extended_attention_mask(attention_mask.view(B, -1), x.dtype)
        hidden_states = []
        for block in self.h:
            hidden_states.append(x)
            x = block(x, ext)
        x = self.ln_f(x)
        hidden_states.append(x)  # HF's last hidden state is after ln_f
        return {"last_hidden_state": x, "hidden_states": hidden_states}


class GPT2LMHeadModel(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        hidden = self.transformer(input_ids, attention_mask, token_type_ids)["last_hidden_state"]
        logits = self.lm_head(hidden)  # (B, T, V)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = causal_lm_loss(logits, labels)
        return out


def last_non_pad_token(input_ids: torch.Tensor, pad_token_id: Optional[int]) -> torch.Tensor:
    """HF GPT2ForSequenceClassification pooling index: the rightmost token that is not pad (handles both
    left and right padding); -1 (the last position) when the config has no pad token."""
    if pad_token_id is None:
        if input_ids.shape[0] != 1:
            raise ValueError("Cannot handle batch sizes > 1 if no padding token is defined.")
        return torch.full((input_ids.shape[0],), input_ids.shape[1] - 1, dtype=torch.long)
    non_pad = (input_ids != pad_token_id).to(torch.int32)
    idx = torch.arange(input_ids.shape[-1], dtype=torch.int32)
    return (idx * non_pad).argmax(-1)


class GPT2ForSequenceClassification(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        hidden = self.transformer(input_ids, attention_mask, token_type_ids)["last_hidden_state"]
        logits = self.score(hidden)  # (B, T, num_labels)
        idx = last_non_pad_token(input_ids, self.config.get("pad_token_id"))
        pooled = logits[torch.arange(input_ids.shape[0]), idx]  # (B, num_labels)
        out = {"logits": pooled, "pooled_index": idx}
        if labels is not None:
            out["loss"], out["problem_type"] = sequence_classification_loss(pooled, labels, self.config)
        return out


# ----------------------------------------------------------------------------- factory

HF_CLASSES = {
    ("bert", "base"): ("BertModel", lambda c: BertModel(c)),
    ("bert", "sequence-classification"): ("BertForSequenceClassification", BertForSequenceClassification),
    ("bert", "token-classification"): ("BertForTokenClassification", BertForTokenClassification),
    ("bert", "masked-lm"): ("BertForMaskedLM", BertForMaskedLM),
    ("distilbert", "base"): ("DistilBertModel", DistilBertModel),
    ("distilbert", "sequence-classification"): (
        "DistilBertForSequenceClassification",
        DistilBertForSequenceClassification,
    ),
    ("distilbert", "token-classification"): ("DistilBertForTokenClassification", DistilBertForTokenClassification),
    ("roberta", "base"): ("RobertaModel", lambda c: RobertaModel(c)),
    ("roberta", "sequence-classification"): ("RobertaForSequenceClassification", RobertaForSequenceClassification),
    ("roberta", "token-classification"): ("RobertaForTokenClassification", RobertaForTokenClassification),
    ("gpt2", "base"): ("GPT2Model", GPT2Model),
    ("gpt2", "sequence-classification"): ("GPT2ForSequenceClassification", GPT2ForSequenceClassification),
    ("gpt2", "causal-lm"): ("GPT2LMHeadModel", GPT2LMHeadModel),
}

# the attribute HF's PreTrainedModel calls base_model_prefix: a base model's keys lack it
BASE_PREFIX = {"bert": "bert", "distilbert": "distilbert", "roberta": "roberta", "gpt2": "transformer"}


def hf_class_name(family: str, head: str) -> str:
    return HF_CLASSES[(family, head)][0]


def build_model(family: str, head: str, config: dict) -> nn.Module:
    if (family, head) not in HF_CLASSES:
        raise KeyError(f"no reference for family={family!r} head={head!r}; have {sorted(HF_CLASSES)}")
    return HF_CLASSES[(family, head)][1](Config(config))


def checkpoint_state_dict(model: nn.Module) -> dict:
    """state_dict as save_pretrained writes it: tied lm_head.weight / cls.predictions.decoder.weight are left out."""
    sd = model.state_dict()
    if isinstance(model, GPT2LMHeadModel):
        sd.pop("lm_head.weight", None)
    if isinstance(model, BertForMaskedLM):
        sd.pop("cls.predictions.decoder.weight", None)
    return sd


def load_checkpoint(model: nn.Module, family: str, tensors: dict) -> list:
    """Load a flat {HF key: tensor} dict the way from_pretrained does for these classes: a base model
    strips the family prefix, a head model adds it when the checkpoint has bare base keys; tied
    lm_head.weight may be missing. Unused keys are ignored (returned). Missing keys raise."""
    prefix = BASE_PREFIX[family] + "."
    want = model.state_dict()
    is_base = not any(k.startswith(prefix) for k in want)
    src = {}
    for k, v in tensors.items():
        if is_base and k.startswith(prefix):
            src[k[len(prefix):]] = v
        elif not is_base and not k.startswith(prefix) and (prefix + k) in want:
            src[prefix + k] = v
        else:
            src[k] = v
    missing = [k for k in want if k not in src and k not in ("lm_head.weight", "cls.predictions.decoder.weight")]
    if missing:
        raise KeyError(f"checkpoint lacks {missing}")
    unused = sorted(k for k in src if k not in want)
    with torch.no_grad():
        for k, p in want.items():
            if k in src:
                p.copy_(src[k].to(p.dtype))
    return unused


def trainer_decay_parameter_names(model: nn.Module) -> list:
    """HF Trainer.get_decay_parameter_names: parameters outside LayerNorm modules whose name has no 'bias'."""
    ln_params = set()
    for mname, module in model.named_modules():
        if isinstance(module, nn.LayerNorm):
            for pname, _ in module.named_parameters(recurse=False):
                ln_params.add(f"{mname}.{pname}" if mname else pname)
    return [n for n, _ in model.named_parameters() if n not in ln_params and "bias" not in n]
