"""A re-implementation of Hugging Face transformers' `generate` search logic (v4.38:
generation/utils.py `_greedy_search`, `_beam_search`; generation/beam_search.py `BeamSearchScorer`,
`BeamHypotheses`; generation/logits_process.py `NoRepeatNGramLogitsProcessor`,
`MinLengthLogitsProcessor`, `ForcedBOSTokenLogitsProcessor`, `ForcedEOSTokenLogitsProcessor`, `NoBadWordsLogitsProcessor` for single-token bad words,
`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`).

`transformers` is not installed here, so the logic is written out from that code, line for line
where it decides anything (which token, which beam, when to stop, how hypotheses are scored). The
model is a function `next_logits(input_ids) -> (rows, vocab)` that re-runs the whole prefix each step
(no cache): finetune's cached decoder is checked against this.

Functions take and return plain lists of token ids; every sequence includes its prompt (decoder-only)
or decoder start token (encoder-decoder), as `generate` returns it.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import torch

NextLogits = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- logits processors


def no_repeat_ngram(input_ids: torch.Tensor, scores: torch.Tensor, n: int) -> torch.Tensor:
    """NoRepeatNGramLogitsProcessor: ban every token that would complete an n-gram already in the row."""
    if n <= 0:
        return scores
    rows, cur_len = input_ids.shape
    if cur_len + 1 < n:
        return scores
    scores = scores.clone()
    for r in range(rows):
        toks = input_ids[r].tolist()
        seen = {}
        for i in range(len(toks) - n + 1):
            prefix = tuple(toks[i:i + n - 1])
            seen.setdefault(prefix, []).append(toks[i + n - 1])
        prefix = tuple(toks[cur_len + 1 - n:cur_len])
        for t in seen.get(prefix, []):
            scores[r, t] = -float("inf")
    return scores


def process(input_ids, scores, *, no_repeat_ngram_size=0, forced_eos_token_id=None, max_length=None,
            bad_words_ids=None, forced_bos_token_id=None, min_length=0, eos_token_id=None):
    """The processors in the order `_get_logits_processor` builds them (those finetune supports)."""
    scores = no_repeat_ngram(input_ids, scores, no_repeat_ngram_size)
    if bad_words_ids:
        scores = scores.clone()
        for t in bad_words_ids:
            scores[:, t] = -float("inf")
    # MinLengthLogitsProcessor: no eos while the row (start token or prompt included) is shorter than min_length
    if min_length and eos_token_id is not None and input_ids.shape[1] < min_length:
        scores = scores.clone()
        scores[:, eos_token_id] = -float("inf")
    # ForcedBOSTokenLogitsProcessor: the first generated token (cur_len 1) is forced
    if forced_bos_token_id is not None and input_ids.shape[1] == 1:
        scores = torch.full_like(scores, -float("inf"))
        scores[:, forced_bos_token_id] = 0
    if forced_eos_token_id is not None and max_length is not None and input_ids.shape[1] == max_length - 1:
        scores = torch.full_like(scores, -float("inf"))
        scores[:, forced_eos_token_id] = 0
    return scores


def warp(scores: torch.Tensor, temperature=1.0, top_k=0, top_p=1.0, min_tokens_to_keep=1) -> torch.Tensor:
    """TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, in generate's order."""
    if temperature != 1.0:
        scores = scores / temperature
    if top_k and top_k > 0:
        k = min(max(top_k, min_tokens_to_keep), scores.size(-1))
        kth = torch.topk(scores, k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    if top_p < 1.0:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cum <= (1 - top_p)
        remove[..., -min_tokens_to_keep:] = 0
        remove = remove.scatter(1, sorted_indices, remove)
        scores = scores.masked_fill(remove, -float("inf"))
    return scores


# ----------------------------------------------------------------------------- greedy


def greedy(next_logits: NextLogits, input_ids: List[List[int]], *, max_length: int, eos_token_id: Optional[int],
           pad_token_id: Optional[int], **proc) -> List[List[int]]:
    ids = torch.tensor(input_ids, dtype=torch.long)
    unfinished = torch.ones(ids.shape[0], dtype=torch.long)
    while ids.shape[1] < max_length:
        logits = next_logits(ids)
        scores = process(ids, logits, max_length=max_length, eos_token_id=eos_token_id, **proc)
        nxt = torch.argmax(scores, dim=-1)
        if eos_token_id is not None:
            nxt = nxt * unfinished + pad_token_id * (1 - unfinished)
        ids = torch.cat([ids, nxt[:, None]], dim=-1)
        if eos_token_id is not None:
            unfinished = unfinished.mul((nxt != eos_token_id).long())
        if unfinished.max() == 0:
            break
    return ids.tolist()


# ----------------------------------------------------------------------------- beam search


class BeamHypotheses:
    def __init__(self, num_beams: int, length_penalty: float, early_stopping, max_length: int):
        self.length_penalty = length_penalty
        self.early_stopping = early_stopping
        self.num_beams = num_beams
        self.max_length = max_length
        self.beams = []
        self.worst_score = 1e9

    def __len__(self):
        return len(self.beams)

    def add(self, hyp: torch.Tensor, sum_logprobs: float, generated_len: int):
        score = sum_logprobs / (generated_len ** self.length_penalty)
        if len(self) < self.num_beams or score > self.worst_score:
            self.beams.append((score, hyp))
            if len(self) > self.num_beams:
                sorted_scores = sorted([(s, idx) for idx, (s, _) in enumerate(self.beams)])
                del self.beams[sorted_scores[0][1]]
                self.worst_score = sorted_scores[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs: float, cur_len: int, decoder_prompt_len: int) -> bool:
        if len(self) < self.num_beams:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping is False:
            highest = best_sum_logprobs / (cur_len - decoder_prompt_len) ** self.length_penalty
            return self.worst_score >= highest
        # "never"
        if self.length_penalty > 0.0:
            highest = best_sum_logprobs / (self.max_length - decoder_prompt_len) ** self.length_penalty
        else:
            highest = best_sum_logprobs / (cur_len - decoder_prompt_len) ** self.length_penalty
        return self.worst_score >= highest


def beam_search(next_logits: NextLogits, input_ids: List[List[int]], *, num_beams: int, max_length: int,
                eos_token_id: Optional[int], pad_token_id: Optional[int], length_penalty: float = 1.0,
                early_stopping=False, **proc) -> List[List[int]]:
    """`generate(num_beams=n, do_sample=False, num_return_sequences=1)`: the best hypothesis per row."""
    batch = len(input_ids)
    ids = torch.tensor([row for row in input_ids for _ in range(num_beams)], dtype=torch.long)  # (B*nb, T)
    decoder_prompt_len = ids.shape[1]
    hyps = [BeamHypotheses(num_beams, length_penalty, early_stopping, max_length) for _ in range(batch)]
    done = [False] * batch
    beam_scores = torch.zeros(batch, num_beams, dtype=torch.float64)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    while True:
        cur_len = ids.shape[1]
        logits = next_logits(ids)
        scores = torch.log_softmax(logits.double(), dim=-1)
        scores = process(ids, scores, max_length=max_length, eos_token_id=eos_token_id, **proc)
        scores = scores + beam_scores[:, None]
        V = scores.shape[-1]
        scores = scores.view(batch, num_beams * V)
        n_eos = 1 if eos_token_id is not None else 0
        top, tok = torch.topk(scores, max(2, 1 + n_eos) * num_beams, dim=1, largest=True, sorted=True)
        next_indices = torch.div(tok, V, rounding_mode="floor")
        next_tokens = tok % V
        # BeamSearchScorer.process
        new_scores = torch.zeros(batch, num_beams, dtype=torch.float64)
        new_tokens = torch.zeros(batch, num_beams, dtype=torch.long)
        new_indices = torch.zeros(batch, num_beams, dtype=torch.long)
        p_cur_len = cur_len + 1
        for b in range(batch):
            if done[b]:
                new_tokens[b, :] = pad_token_id
                continue
            beam_idx = 0
            for rank, (t, s, i) in enumerate(zip(next_tokens[b], top[b], next_indices[b])):
                bb = b * num_beams + int(i)
                if eos_token_id is not None and int(t) == eos_token_id:
                    if rank >= num_beams:
                        continue
                    hyps[b].add(ids[bb].clone(), float(s), p_cur_len - decoder_prompt_len)
                else:
                    new_scores[b, beam_idx] = s
                    new_tokens[b, beam_idx] = t
                    new_indices[b, beam_idx] = bb
                    beam_idx += 1
                if beam_idx == num_beams:
                    break
            done[b] = done[b] or hyps[b].is_done(float(top[b].max()), p_cur_len, decoder_prompt_len)
        beam_scores = new_scores.view(-1)
        ids = torch.cat([ids[new_indices.view(-1)], new_tokens.view(-1, 1)], dim=-1)
        if all(done) or ids.shape[1] >= max_length:
            break
    # BeamSearchScorer.finalize
    out = []
    for b in range(batch):
        if not done[b]:
            for k in range(num_beams):
                bb = b * num_beams + k
                hyps[b].add(ids[bb], float(beam_scores[bb]), ids.shape[1] - decoder_prompt_len)
        best = sorted(hyps[b].beams, key=lambda x: x[0])[-1][1].tolist()
        out.append(best)
    # sequences shorter than the longest allowed get eos appended, the rest pad
    sent_max_len = min(max(len(s) for s in out) + 1, max_length)
    res = []
    for s in out:
        row = list(s)
        if len(s) < sent_max_len and eos_token_id is not None:
            row.append(eos_token_id)
        res.append(row)
    return res
