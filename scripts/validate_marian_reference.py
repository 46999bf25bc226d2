"""Checks scripts/marian_reference.py against independent implementations:

- the encoder and decoder layer stacks against torch.nn.TransformerEncoder / TransformerDecoder
  (post-norm layers, norm_first=False, no final norm: the architectures coincide there; Marian's
  separate q/k/v projections are copied into nn.MultiheadAttention's in_proj, its activation given
  as the layers' activation), with a source padding mask and the causal target mask;
- the sinusoidal position table against its closed form (sin(p / 10000^(2i/d)) in the first half
  of the channels, cos in the second), and that positions start at 0 (no offset, unlike BART);
- shift_tokens_right against HF's definition on a label row with -100 padding.

    /usr/bin/python3 scripts/validate_marian_reference.py    # exits 1 if a check fails
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import marian_reference as ref  # noqa: E402
from seq2seq_reference_common import Checks, check_decoder, check_encoder, torch_transformer_stacks  # noqa: E402

torch.manual_seed(0)
checks = Checks()
check = checks.close

cfg = ref.marian_config(vocab_size=50, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                        decoder_attention_heads=4, encoder_ffn_dim=24, decoder_ffn_dim=24, max_position_embeddings=32,
                        pad_token_id=49, decoder_start_token_id=49, activation_function="relu")
m = ref.MarianMTModel(cfg).double().eval()
with torch.no_grad():
    for p in m.parameters():
        p.normal_(0, 0.3)

d, nh, ff = 16, 4, 24
enc_t, dec_t = torch_transformer_stacks(m, d, nh, ff, "relu")

src = torch.tensor([[5, 6, 7, 8, 9, 0], [10, 11, 12, 0, 49, 49]])
mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
dec_in = torch.tensor([[49, 3, 4, 5], [49, 7, 8, 9]])
with torch.no_grad():
    enc = m.encode(src, mask)
    x = m.model.encoder.embed_tokens(src) * math.sqrt(d) + m.model.encoder.embed_positions(src.shape[1])
    check_encoder(checks, "encoder layers vs nn.TransformerEncoder (padded rows: real positions)", enc_t, x, mask, enc)
    h = m.model.decoder(dec_in, enc, mask)
    y = m.model.decoder.embed_tokens(dec_in) * math.sqrt(d) + m.model.decoder.embed_positions(dec_in.shape[1])
    check_decoder(checks, "decoder layers vs nn.TransformerDecoder", dec_t, y, enc, mask, h)
P, D = 32, 16
table = ref.sinusoidal_table(P, D).double()
closed = torch.zeros(P, D, dtype=torch.float64)
for p in range(P):
    for i in range(D // 2):
        closed[p, i] = math.sin(p / 10000 ** (2 * i / D))
        closed[p, D // 2 + i] = math.cos(p / 10000 ** (2 * i / D))
check("sinusoidal table vs closed form", table, closed, 1e-6)
check("positions start at 0", m.model.encoder.embed_positions(3), m.model.encoder.embed_positions.weight[:3], 0)

labels = torch.tensor([[4, 5, 6, 0, -100, -100]])
want = torch.tensor([[49, 4, 5, 6, 0, 49]])
check("shift_tokens_right: start token first, -100 -> pad", ref.shift_tokens_right(labels, 49, 49), want, 0)

checks.exit()
