"""Checks scripts/bart_reference.py against independent implementations:

- the encoder and decoder (after their embeddings) against torch.nn.TransformerEncoder /
  TransformerDecoder (post-norm layers, norm_first=False, no final norm: the architectures coincide
  there; BART's separate q/k/v projections are copied into nn.MultiheadAttention's in_proj, gelu as
  the layers' activation), with a source padding mask and the causal target mask;
- the embeddings against their definition written out: F.layer_norm(table[ids] * scale + positions
  table[2 + p]), for the encoder and for a decoder continuing after a past of 3 tokens;
- shift_tokens_right with BART's ids (decoder start </s> = 2, pad 1).

    /usr/bin/python3 scripts/validate_bart_reference.py    # exits 1 if a check fails
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bart_reference as ref  # noqa: E402
from seq2seq_reference_common import Checks, check_decoder, check_encoder, torch_transformer_stacks  # noqa: E402

checks = Checks()
check = checks.close

torch.manual_seed(1)
d, nh, ff = 16, 4, 24
for scale in (False, True):
    cfg = ref.bart_config(vocab_size=50, d_model=d, encoder_layers=2, decoder_layers=2, encoder_attention_heads=nh,
                          decoder_attention_heads=nh, encoder_ffn_dim=ff, decoder_ffn_dim=ff, max_position_embeddings=32,
                          scale_embedding=scale)
    m = ref.BartForConditionalGeneration(cfg).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    enc_t, dec_t = torch_transformer_stacks(m, d, nh, ff, "gelu")

    src = torch.tensor([[0, 5, 6, 7, 8, 2], [0, 10, 11, 2, 1, 1]])
    mask = (src != 1).long()
    dec_in = torch.tensor([[2, 0, 4, 5], [2, 0, 8, 9]])
    s = math.sqrt(d) if scale else 1.0
    W = m.model.shared.weight
    with torch.no_grad():
        enc = m.encode(src, mask)
        e = m.model.encoder
        x = F.layer_norm(W[src] * s + e.embed_positions.weight[2:2 + src.shape[1]], (d,), e.layernorm_embedding.weight, e.layernorm_embedding.bias)
        check(f"encoder embeddings (scale_embedding={scale}): layer_norm(table[ids] * scale + positions[2 + p])", e.embed(src), x, 1e-12)
        check_encoder(checks, f"encoder vs nn.TransformerEncoder (scale_embedding={scale}, real positions)", enc_t, x, mask, enc)
        h = m.model.decoder(dec_in, enc, mask)
        dd = m.model.decoder
        y = F.layer_norm(W[dec_in] * s + dd.embed_positions.weight[2:2 + dec_in.shape[1]], (d,), dd.layernorm_embedding.weight, dd.layernorm_embedding.bias)
        check_decoder(checks, f"decoder vs nn.TransformerDecoder (scale_embedding={scale})", dec_t, y, enc, mask, h)
        y3 = F.layer_norm(W[dec_in[:, :1]] * s + dd.embed_positions.weight[5:6], (d,), dd.layernorm_embedding.weight, dd.layernorm_embedding.bias)
        check("decoder embedding after a past of 3 tokens reads position row 2 + 3", dd.embed(dec_in[:, :1], past=3), y3, 1e-12)

labels = torch.tensor([[0, 4, 5, 2, -100, -100]])
check("shift_tokens_right: </s> first, -100 -> pad", ref.shift_tokens_right(labels, 1, 2), torch.tensor([[2, 0, 4, 5, 2, 1]]), 0)

checks.exit()
