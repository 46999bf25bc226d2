"""Validate scripts/text_reference.py against independent implementations and against the goldens.

    /usr/bin/python3 scripts/validate_text_reference.py

Checks (each prints its max abs difference and fails loudly past its tolerance):
 1. RoBERTa encoder + classification head vs torchtext 0.14's RoBERTa (random weights copied over),
    float32, through both PyTorch code paths of nn.TransformerEncoder (autograd path and the fused
    no-grad "fast path" with nested tensors).
 2. GPT-2 attention, and a whole GPT2Model, vs torch.nn.MultiheadAttention with a causal mask.
 3. A BERT layer vs an explicit per-head loop (erf GELU, LayerNorm from its formula) and vs
    torch.nn.TransformerEncoderLayer (post-LN); a DistilBERT block vs nn.TransformerEncoderLayer.
 4. gelu_new vs F.gelu(approximate='tanh'); the HF losses vs hand-written formulas.
 5. Padding invariance: a padded row's real positions equal the same row run without padding.
 6. State-dict keys vs HF's key names, written out by hand.
 7. Autograd gradients vs central finite differences (float64) for a few entries per head.
 8. Every golden in test/golden/text reproduces from its checkpoint in test/fixtures/models.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import sys
import types

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import text_reference as ref  # noqa: E402
from safetensors_io import load_file  # noqa: E402

ROOT = os.path.dirname(HERE)
RESULTS = []


def report(name: str, diff: float, tol: float) -> None:
    ok = diff <= tol
    RESULTS.append((name, diff, tol, ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs diff {diff:.3g} (tol {tol:g})")


def maxdiff(a, b) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def randomize(module: nn.Module, seed: int, dtype=torch.float32) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            z = torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype)
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.1 * z)
            elif name.endswith("bias"):
                p.copy_(0.1 * z)
            else:
                p.copy_(0.2 * z)


def tiny(family: str, **kw) -> dict:
    """The fixture sizes (hidden 32, 2 layers, 4 heads, FFN 64, vocab 100, 3 labels); kw overrides."""
    if family == "gpt2":
        base = dict(n_embd=32, n_layer=2, n_head=4, n_inner=64, n_positions=64, pad_token_id=0)
    elif family == "distilbert":
        base = dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64)
    else:
        base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                    max_position_embeddings=64)
    make = {"bert": ref.bert_config, "roberta": ref.roberta_config, "distilbert": ref.distilbert_config,
            "gpt2": ref.gpt2_config}[family]
    return make(**{**base, "vocab_size": 100, **ref._labels(3), **kw})


# ----------------------------------------------------------------------------- 1. torchtext RoBERTa


def load_torchtext_roberta():
    """torchtext 0.14's RoBERTa model code, imported without torchtext/__init__.py (whose C++
    extension does not load on this Python); the two files only need torch."""
    spec = importlib.util.find_spec("torchtext")
    if spec is None or spec.submodule_search_locations is None:
        raise RuntimeError("torchtext is not installed for /usr/bin/python3")
    pkg_dir = os.path.join(list(spec.submodule_search_locations)[0], "models", "roberta")
    pkg = types.ModuleType("_tt_roberta")
    pkg.__path__ = [pkg_dir]
    sys.modules["_tt_roberta"] = pkg
    return importlib.import_module("_tt_roberta.model")


def check_torchtext_roberta() -> None:
    tt = load_torchtext_roberta()
    torch.manual_seed(0)
    conf = tt.RobertaEncoderConf(vocab_size=100, embedding_dim=32, ffn_dimension=64, padding_idx=1, max_seq_len=64,
                                 num_attention_heads=4, num_encoder_layers=2, dropout=0.0)
    head = tt.RobertaClassificationHead(num_classes=3, input_dim=32, dropout=0.0, activation=nn.Tanh)
    their = tt.RobertaModel(conf, head=head).eval()
    randomize(their, 1)

    cfg = tiny("roberta", layer_norm_eps=1e-5, hidden_act="gelu")
    ours = ref.build_model("roberta", "sequence-classification", cfg).eval()
    enc = their.encoder.transformer
    sd = {
        "roberta.embeddings.word_embeddings.weight": enc.token_embedding.weight,
        "roberta.embeddings.position_embeddings.weight": enc.positional_embedding.embedding.weight,
        # torchtext has no token-type table; HF RoBERTa has one row added to every token: make it zero
        "roberta.embeddings.token_type_embeddings.weight": torch.zeros(1, 32),
        "roberta.embeddings.LayerNorm.weight": enc.embedding_layer_norm.weight,
        "roberta.embeddings.LayerNorm.bias": enc.embedding_layer_norm.bias,
        "classifier.dense.weight": head.dense.weight,
        "classifier.dense.bias": head.dense.bias,
        "classifier.out_proj.weight": head.out_proj.weight,
        "classifier.out_proj.bias": head.out_proj.bias,
    }
    for i, layer in enumerate(enc.layers.layers):
        p = f"roberta.encoder.layer.{i}."
        w, b = layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias  # (3C, C): q, k, v stacked
        for j, n in enumerate(("query", "key", "value")):
            sd[p + f"attention.self.{n}.weight"] = w[j * 32:(j + 1) * 32]
            sd[p + f"attention.self.{n}.bias"] = b[j * 32:(j + 1) * 32]
        sd[p + "attention.output.dense.weight"] = layer.self_attn.out_proj.weight
        sd[p + "attention.output.dense.bias"] = layer.self_attn.out_proj.bias
        sd[p + "attention.output.LayerNorm.weight"] = layer.norm1.weight
        sd[p + "attention.output.LayerNorm.bias"] = layer.norm1.bias
        sd[p + "intermediate.dense.weight"] = layer.linear1.weight
        sd[p + "intermediate.dense.bias"] = layer.linear1.bias
        sd[p + "output.dense.weight"] = layer.linear2.weight
        sd[p + "output.dense.bias"] = layer.linear2.bias
        sd[p + "output.LayerNorm.weight"] = layer.norm2.weight
        sd[p + "output.LayerNorm.bias"] = layer.norm2.bias
    ref.load_checkpoint(ours, "roberta", {k: v.detach().clone() for k, v in sd.items()})

    ids = torch.tensor([[0, 17, 45, 88, 63, 9, 2], [0, 29, 71, 54, 2, 1, 1]])
    real = ids.ne(1)
    mask = real.long()
    h_ours = ours.roberta(ids, mask)["last_hidden_state"]
    logits_ours = ours(ids, mask)["logits"]
    h_slow = their.encoder(ids)  # grad enabled: the plain autograd path of nn.TransformerEncoder
    logits_slow = their(ids)
    with torch.no_grad():
        h_fast = their.encoder(ids)  # no grad + eval + padding mask: fused kernels, nested tensors
    report("torchtext RoBERTa hidden states, autograd path (non-pad positions)",
           maxdiff(h_ours[real], h_slow[real]), 1e-5)
    report("torchtext RoBERTa hidden states, fused fast path (non-pad positions)",
           maxdiff(h_ours[real], h_fast[real]), 1e-5)
    report("torchtext RoBERTa + RobertaClassificationHead(tanh) logits", maxdiff(logits_ours, logits_slow), 1e-5)
    their64, ours64 = their.double(), ours.double()
    report("torchtext RoBERTa hidden states, autograd path, float64 (non-pad positions)",
           maxdiff(ours64.roberta(ids, mask)["last_hidden_state"][real], their64.encoder(ids)[real]), 1e-12)
    pad_rows_fast = float(h_fast[~real].abs().max())
    print(f"     (torchtext fast path returns zeros at padded positions: max |h| there = {pad_rows_fast:.3g}; "
          f"the autograd path and HF return ordinary values, so padded positions are not compared)")


# ----------------------------------------------------------------------------- 2. GPT-2 vs MultiheadAttention


def mha_from_gpt2(attn: ref.GPT2Attention, dtype) -> nn.MultiheadAttention:
    C = attn.embed_dim
    mha = nn.MultiheadAttention(C, attn.num_heads, batch_first=True, dropout=0.0, dtype=dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.c_attn.weight.t())  # Conv1D (in, out) -> Linear (out, in)
        mha.in_proj_bias.copy_(attn.c_attn.bias)
        mha.out_proj.weight.copy_(attn.c_proj.weight.t())
        mha.out_proj.bias.copy_(attn.c_proj.bias)
    return mha.eval()


def check_gpt2_vs_mha() -> None:
    cfg = ref.Config(tiny("gpt2"))
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        model = ref.GPT2Model(cfg).to(dtype).eval()
        randomize(model, 2, dtype)
        ids = torch.tensor([[17, 45, 88, 63, 9, 31, 5], [29, 71, 54, 12, 40, 0, 0]])
        mask = ids.ne(0).long()
        T = ids.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = may not attend
        x = torch.randn(2, T, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(dtype)
        attn = model.h[0].attn
        ours = attn(x, ref.extended_attention_mask(mask, dtype))
        mha = mha_from_gpt2(attn, dtype)
        theirs, _ = mha(x, x, x, attn_mask=causal, key_padding_mask=mask == 0, need_weights=False)
        report(f"GPT2Attention vs nn.MultiheadAttention + causal mask ({dtype})", maxdiff(ours, theirs), tol)

        # whole GPT2Model rebuilt from torch modules
        h = model.wte(ids) + model.wpe(torch.arange(T))[None]
        for blk in model.h:
            a = blk.ln_1(h)
            h = h + mha_from_gpt2(blk.attn, dtype)(a, a, a, attn_mask=causal, key_padding_mask=mask == 0,
                                                    need_weights=False)[0]
            m = blk.ln_2(h)
            m = F.gelu(m @ blk.mlp.c_fc.weight + blk.mlp.c_fc.bias, approximate="tanh")
            h = h + m @ blk.mlp.c_proj.weight + blk.mlp.c_proj.bias
        h = model.ln_f(h)
        report(f"GPT2Model vs blocks built on nn.MultiheadAttention ({dtype})",
               maxdiff(model(ids, mask)["last_hidden_state"], h), tol * 10)


# ----------------------------------------------------------------------------- 3. BERT / DistilBERT layers


def manual_layer_norm(x, w, b, eps):
    mu = sum(x) / len(x)
    var = sum((v - mu) ** 2 for v in x) / len(x)
    return [(v - mu) / math.sqrt(var + eps) * wi + bi for v, wi, bi in zip(x, w, b)]


def manual_bert_layer(layer: ref.BertLayer, x: torch.Tensor, mask: torch.Tensor, eps: float) -> torch.Tensor:
    """One BERT layer from plain Python loops (float64 scalars): per-head attention with the padding
    mask as 'skip this key', exact erf GELU, LayerNorm from its formula."""
    sa, so = layer.attention.self, layer.attention.output
    nh, hd = sa.num_attention_heads, sa.attention_head_size

    def lin(m, v):  # v: list of floats
        W, b = m.weight.double().tolist(), m.bias.double().tolist()
        return [sum(wij * vj for wij, vj in zip(row, v)) + bi for row, bi in zip(W, b)]

    B, T, C = x.shape
    out = torch.zeros(B, T, C, dtype=torch.float64)
    for bi in range(B):
        X = x[bi].double().tolist()
        Q = [lin(sa.query, X[t]) for t in range(T)]
        K = [lin(sa.key, X[t]) for t in range(T)]
        V = [lin(sa.value, X[t]) for t in range(T)]
        keys = [t for t in range(T) if mask[bi, t] == 1]
        for t in range(T):
            ctx = []
            for h in range(nh):
                s = slice(h * hd, (h + 1) * hd)
                sc = {j: sum(a * c for a, c in zip(Q[t][s], K[j][s])) / math.sqrt(hd) for j in keys}
                mx = max(sc.values())
                e = {j: math.exp(v - mx) for j, v in sc.items()}
                z = sum(e.values())
                ctx += [sum(e[j] / z * V[j][s][d] for j in keys) for d in range(hd)]
            a = lin(so.dense, ctx)
            a = manual_layer_norm([ai + xi for ai, xi in zip(a, X[t])], so.LayerNorm.weight.tolist(),
                                  so.LayerNorm.bias.tolist(), eps)
            f = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in lin(layer.intermediate.dense, a)]
            f = lin(layer.output.dense, f)
            o = manual_layer_norm([fi + ai for fi, ai in zip(f, a)], layer.output.LayerNorm.weight.tolist(),
                                  layer.output.LayerNorm.bias.tolist(), eps)
            out[bi, t] = torch.tensor(o, dtype=torch.float64)
    return out


def torch_encoder_layer(C, nh, ff, eps, dtype, q, k, v, o, ln1, lin1, lin2, ln2) -> nn.TransformerEncoderLayer:
    layer = nn.TransformerEncoderLayer(C, nh, ff, dropout=0.0, activation="gelu", layer_norm_eps=eps,
                                       batch_first=True, norm_first=False, dtype=dtype)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([q.weight, k.weight, v.weight]))
        layer.self_attn.in_proj_bias.copy_(torch.cat([q.bias, k.bias, v.bias]))
        for dst, src in ((layer.self_attn.out_proj, o), (layer.norm1, ln1), (layer.linear1, lin1),
                         (layer.linear2, lin2), (layer.norm2, ln2)):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return layer.eval()


def check_encoder_layers() -> None:
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        cfg = ref.Config(tiny("bert"))
        layer = ref.BertLayer(cfg).to(dtype).eval()
        randomize(layer, 4, dtype)
        x = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(5), dtype=torch.float64).to(dtype)
        ours = layer(x, ref.extended_attention_mask(mask, dtype))
        if dtype == torch.float64:
            manual = manual_bert_layer(layer, x, mask, 1e-12)
            report("BertLayer vs per-head Python loops (float64)", maxdiff(ours, manual), 1e-12)
        a, s = layer.attention.self, layer.attention.output
        tl = torch_encoder_layer(32, 4, 64, 1e-12, dtype, a.query, a.key, a.value, s.dense, s.LayerNorm,
                                 layer.intermediate.dense, layer.output.dense, layer.output.LayerNorm)
        report(f"BertLayer vs nn.TransformerEncoderLayer post-LN ({dtype})",
               maxdiff(ours, tl(x, src_key_padding_mask=mask == 0)), tol)

        dcfg = ref.Config(tiny("distilbert"))
        blk = ref.TransformerBlock(dcfg).to(dtype).eval()
        randomize(blk, 6, dtype)
        at = blk.attention
        tl = torch_encoder_layer(32, 4, 64, 1e-12, dtype, at.q_lin, at.k_lin, at.v_lin, at.out_lin, blk.sa_layer_norm,
                                 blk.ffn.lin1, blk.ffn.lin2, blk.output_layer_norm)
        report(f"DistilBERT TransformerBlock vs nn.TransformerEncoderLayer ({dtype})",
               maxdiff(blk(x, mask), tl(x, src_key_padding_mask=mask == 0)), tol)


# ----------------------------------------------------------------------------- 4. activations and losses


def check_activations_and_losses() -> None:
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    report("gelu_new vs F.gelu(approximate='tanh') (float64)", maxdiff(ref.gelu_new(x), F.gelu(x, approximate="tanh")),
           1e-14)
    report("gelu vs 0.5x(1+erf(x/sqrt2))", maxdiff(ref.ACT2FN["gelu"](x), 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))),
           1e-15)

    g = torch.Generator().manual_seed(7)
    logits = torch.randn(2, 3, generator=g, dtype=torch.float64)
    cfg3 = ref.Config(tiny("bert"))
    labels = torch.tensor([2, 0])
    loss, pt = ref.sequence_classification_loss(logits, labels, cfg3)
    manual = -sum(float(logits[i, labels[i]] - torch.logsumexp(logits[i], 0)) for i in range(2)) / 2
    assert pt == "single_label_classification"
    report("single-label loss vs mean -log softmax", abs(float(loss) - manual), 1e-14)

    cfg1 = ref.Config(tiny("bert", **ref._labels(1)))
    reg = logits[:, :1]
    y = torch.tensor([0.75, -1.5])
    loss, pt = ref.sequence_classification_loss(reg, y, cfg1)
    assert pt == "regression"
    report("regression loss vs mean squared error", abs(float(loss) - float(((reg[:, 0] - y) ** 2).mean())), 1e-14)

    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    cfgm = ref.Config(tiny("bert", problem_type="multi_label_classification"))
    loss, pt = ref.sequence_classification_loss(logits, y, cfgm)
    p = torch.sigmoid(logits)
    manual = float(-(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean())
    assert pt == "multi_label_classification"
    report("multi-label loss vs mean binary cross-entropy", abs(float(loss) - manual), 1e-14)
    # float labels with num_labels > 1 and no problem_type also mean multi-label in HF
    assert ref.sequence_classification_loss(logits, y, cfg3)[1] == "multi_label_classification"

    tl = torch.randn(2, 7, 3, generator=g, dtype=torch.float64)
    lab = torch.tensor([[-100, 1, 2, 0, -100, 1, -100], [-100, 2, 2, -100, 0, -100, -100]])
    terms = [float(tl[b, t, lab[b, t]] - torch.logsumexp(tl[b, t], 0)) for b in range(2) for t in range(7)
             if lab[b, t] != -100]
    report("token-classification loss vs mean over non -100 labels",
           abs(float(ref.token_classification_loss(tl, lab, 3)) + sum(terms) / len(terms)), 1e-14)

    lm = torch.randn(2, 7, 100, generator=g, dtype=torch.float64)
    ids = torch.tensor([[17, 45, 88, 63, 9, 31, 5], [29, 71, 54, 12, 40, -100, -100]])
    terms = [float(lm[b, t, ids[b, t + 1]] - torch.logsumexp(lm[b, t], 0)) for b in range(2) for t in range(6)
             if ids[b, t + 1] != -100]
    report("causal-LM loss vs mean next-token -log p",
           abs(float(ref.causal_lm_loss(lm, ids)) + sum(terms) / len(terms)), 1e-14)

    rows = torch.tensor([[5, 6, 7, 0, 0], [0, 0, 5, 6, 7], [5, 6, 7, 8, 9]])
    assert ref.last_non_pad_token(rows, 0).tolist() == [2, 4, 4]
    print("ok   GPT-2 pooling index: right padding -> last real token, left padding -> last position")


# ----------------------------------------------------------------------------- 5. padding invariance


def check_padding_invariance() -> None:
    cases = {
        "bert": ([[2, 29, 71, 3, 54, 0, 0]], 0),
        "distilbert": ([[2, 29, 71, 3, 54, 0, 0]], 0),
        "roberta": ([[0, 29, 71, 54, 2, 1, 1]], 1),
        "gpt2": ([[29, 71, 54, 12, 40, 0, 0]], 0),
    }
    for family, (ids, pad) in cases.items():
        cfg = tiny(family)
        model = ref.build_model(family, "base", cfg).double().eval()
        randomize(model, 8, torch.float64)
        ids = torch.tensor(ids)
        n = int(ids.ne(pad).sum())
        padded = model(ids, ids.ne(pad).long())["last_hidden_state"][:, :n]
        short = model(ids[:, :n], torch.ones(1, n, dtype=torch.long))["last_hidden_state"]
        report(f"{family}: padded row == unpadded row at real positions (float64)", maxdiff(padded, short), 1e-12)
        if family != "gpt2":  # right padding is invisible to causal attention anyway
            unmasked = model(ids, torch.ones_like(ids))["last_hidden_state"][:, :n]
            print(f"     (same row without its attention mask differs by {maxdiff(unmasked, short):.3g}: "
                  "the check is sensitive to the mask)")


# ----------------------------------------------------------------------------- 6. HF key names


def expected_keys(family: str, head: str, layers: int = 2) -> set:
    if family in ("bert", "roberta"):
        b = family + "."
        keys = [b + f"embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings",
                                                         "token_type_embeddings", "LayerNorm")]
        keys += [b + "embeddings.LayerNorm.bias"]
        for i in range(layers):
            p = f"{b}encoder.layer.{i}."
            for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                      "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"):
                keys += [p + m + ".weight", p + m + ".bias"]
        pooler = head == "base" or (family == "bert" and head == "sequence-classification")
        if pooler:
            keys += [b + "pooler.dense.weight", b + "pooler.dense.bias"]
        if head == "sequence-classification" and family == "roberta":
            keys += ["classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight",
                     "classifier.out_proj.bias"]
        elif head != "base":
            keys += ["classifier.weight", "classifier.bias"]
    elif family == "distilbert":
        b = "distilbert."
        keys = [b + "embeddings.word_embeddings.weight", b + "embeddings.position_embeddings.weight",
                b + "embeddings.LayerNorm.weight", b + "embeddings.LayerNorm.bias"]
        for i in range(layers):
            p = f"{b}transformer.layer.{i}."
            for m in ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "sa_layer_norm",
                      "ffn.lin1", "ffn.lin2", "output_layer_norm"):
                keys += [p + m + ".weight", p + m + ".bias"]
        if head == "sequence-classification":
            keys += ["pre_classifier.weight", "pre_classifier.bias"]
        if head != "base":
            keys += ["classifier.weight", "classifier.bias"]
    else:
        b = "transformer."
        keys = [b + "wte.weight", b + "wpe.weight", b + "ln_f.weight", b + "ln_f.bias"]
        for i in range(layers):
            p = f"{b}h.{i}."
            for m in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
                keys += [p + m + ".weight", p + m + ".bias"]
        if head == "sequence-classification":
            keys += ["score.weight"]
        if head == "causal-lm":
            keys += ["lm_head.weight"]
    if head == "base":
        keys = [k[len(ref.BASE_PREFIX[family]) + 1:] for k in keys]
    return set(keys)


def check_key_names() -> None:
    bad = 0
    for family, head in ref.HF_CLASSES:
        model = ref.build_model(family, head, tiny(family))
        got, want = set(model.state_dict()), expected_keys(family, head)
        if got != want:
            bad += 1
            print(f"FAIL {family}/{head}: extra {sorted(got - want)} missing {sorted(want - got)}")
    gpt = ref.build_model("gpt2", "causal-lm", tiny("gpt2"))
    assert gpt.lm_head.weight is gpt.transformer.wte.weight
    assert tuple(gpt.transformer.h[0].attn.c_attn.weight.shape) == (32, 96), "Conv1D weights are (in, out)"
    RESULTS.append(("state-dict keys equal HF's for all classes", float(bad), 0, bad == 0))
    print(f"{'ok  ' if bad == 0 else 'FAIL'} state-dict keys equal HF's for {len(ref.HF_CLASSES)} classes; "
          "lm_head tied to wte; c_attn.weight is (in, out)")


# ----------------------------------------------------------------------------- 7. finite differences


def check_finite_differences() -> None:
    import gen_text_goldens as gen

    worst = 0.0
    for family in gen.CONFIGS:
        tensors = load_file(os.path.join(ROOT, "test", "fixtures", "models", f"{family}-tiny",
                                            "model.safetensors"))
        for head in gen.FAMILY_HEADS[family]:
            if head == "base":
                continue
            if head == "causal-lm":
                labels = [[t if t != 0 else -100 for t in row] for row in gen.GPT2_IDS]
            elif head == "token-classification":
                labels = gen.TOKEN_LABELS
            else:
                labels = gen.SEQ_LABELS
            model = gen.build_loaded(family, head, gen.CONFIGS[family], tensors, {}, torch.float64)
            inputs = {k: torch.tensor(v) for k, v in gen.family_inputs(family).items()}
            y = torch.tensor(labels)
            model.zero_grad()
            model(**inputs, labels=y)["loss"].backward()
            params = dict(model.named_parameters())
            g = torch.Generator().manual_seed(9)
            for pname in gen.GRAD_PARAMS[family]:
                if pname not in params:
                    continue
                p = params[pname]
                flat = p.data.view(-1)
                # probe the entries with the largest gradients plus two random ones
                idx = p.grad.view(-1).abs().argsort(descending=True)[:2].tolist()
                idx += torch.randint(0, flat.numel(), (2,), generator=g).tolist()
                for i in idx:
                    old = float(flat[i])
                    eps = 1e-6
                    with torch.no_grad():
                        flat[i] = old + eps
                        up = float(model(**inputs, labels=y)["loss"])
                        flat[i] = old - eps
                        down = float(model(**inputs, labels=y)["loss"])
                        flat[i] = old
                    fd = (up - down) / (2 * eps)
                    worst = max(worst, abs(fd - float(p.grad.view(-1)[i])))
    report("autograd vs central differences, 4 entries x named params x every head (float64)", worst, 1e-7)


# ----------------------------------------------------------------------------- 8. goldens reproduce


def check_goldens() -> None:
    import gen_text_goldens as gen

    gdir = os.path.join(ROOT, "test", "golden", "text")
    worst, count = 0.0, 0
    for fname in sorted(os.listdir(gdir)):
        g = json.load(open(os.path.join(gdir, fname)))
        family, head = g["family"], g["head"]
        folder = os.path.join(ROOT, g["checkpoint"])
        tensors = load_file(os.path.join(folder, "model.safetensors"))
        cfg_file = json.load(open(os.path.join(folder, "config.json")))
        config = {**cfg_file, **g.get("config_overrides", {})}
        assert config == g["config"], f"{fname}: config differs from {g['checkpoint']}/config.json + overrides"
        overrides = {k: torch.tensor(v["data"], dtype=torch.float32).view(v["shape"])
                     for k, v in g.get("weight_overrides", {}).items()}
        model = gen.build_loaded(family, head, config, tensors, overrides, torch.float64)
        inp = {k: torch.tensor(v) for k, v in g["inputs"].items() if k not in ("labels", "labels_dtype")}

        def close(a, ref_json):
            b = torch.tensor(ref_json["data"], dtype=torch.float64).view(ref_json["shape"])
            return float(((a.detach() - b).abs() / (1 + b.abs())).max())

        if fname == "bert-adamw-step.json":
            for variant in ("unclipped", "clipped"):
                m = gen.build_loaded(family, head, config, tensors, {}, torch.float64)
                gen.adamw_step(m, {k: v.tolist() for k, v in inp.items()}, g["inputs"]["labels"],
                               g[variant]["max_grad_norm"])
                params = dict(m.named_parameters())
                for n, t in g[variant]["params_after"].items():
                    worst = max(worst, close(params[n], t))
            count += 1
            continue
        labels = g["inputs"].get("labels")
        kw = dict(inp)
        if labels is not None:
            kw["labels"] = torch.tensor(labels, dtype=torch.long if g["inputs"]["labels_dtype"] == "int64"
                                        else torch.float32)
        model.zero_grad()
        out = model(**kw)
        if "loss" in out:
            out["loss"].backward()
            worst = max(worst, abs(float(out["loss"]) - g["outputs"]["loss"]) / (1 + abs(g["outputs"]["loss"])))
            params = dict(model.named_parameters())
            for n, t in g["grads"].items():
                worst = max(worst, close(params[n].grad, t))
        for k in ("logits", "last_hidden_state", "pooler_output"):
            if k in g["outputs"]:
                worst = max(worst, close(out[k], g["outputs"][k]))
        assert sorted(ref.checkpoint_state_dict(model)) == g["state_keys"]
        count += 1
    report(f"{count} goldens reproduce from test/fixtures/models (relative)", worst, 1e-9)


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}")
    check_torchtext_roberta()
    check_gpt2_vs_mha()
    check_encoder_layers()
    check_activations_and_losses()
    check_padding_invariance()
    check_key_names()
    check_finite_differences()
    check_goldens()
    failed = [r for r in RESULTS if not r[3]]
    print(f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
