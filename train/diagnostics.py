"""Memory diagnostics of a trained model, computed exactly as the TypeScript CLI computes them (`npm run eval`;
definitions in docs/DIAGNOSTICS.md): memory off, read twice, the recall probe, and valid bpb.

- **valid**: valid.bin in consecutive windows of the training context T (state reset per window), the same numbers
  as the trainer's final eval (`common.evaluate_bpb`): loss (nats/token) and bpb.
- **memory off**: every TTT layer's inner learning rate × 0 (`TTTMixer.memory_scale = 0`), so the state stays at
  w_init/b_init; everything else unchanged. `memoryOff` = the valid numbers again, and `lossIncrease` =
  off/on − 1. Refused for a model without a "ttt" layer.
- **read twice**: valid.bin split at the eot id into stories (its stories are the valid.txt stories, trimmed, as the
  CLI's); per story s of n tokens, from a reset state, the stream [eot] s [eot] s; `firstNats`/`secondNats` = total
  nats of each copy's n targets / total targets; `drop` = 1 − second/first. A stream longer than an attention
  model's maxContext is skipped and counted. `limit_bytes` keeps the first whole stories whose bytes (UTF-8 text + 1
  per eot) fit, as the CLI's --limit-bytes.
- **recall**: probes/recall-v1.json; per item, from a reset state, read [eot] + ids; a query is correct iff the
  argmax before each answer token is that token. Accuracy overall and by distance bucket [0, 192), [192, 384),
  [384, ∞) tokens, and the same for the probe's `controls` (the facts name other names: the name-prior level).

Streams are batched (sorted by length, right-padded: every mixer is causal, so padding after a stream changes none
of its logits), which is what makes this fast enough on the CPU.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from model import BitTTTModel, TTTMixer

RECALL_DISTANCE_EDGES = (0, 192, 384, math.inf)
DEFAULT_PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "probes", "recall-v1.json")


class DiagnosticsError(ValueError):
    """A diagnostic that cannot run on this model or input (the message says why)."""


def ttt_mixers(model: BitTTTModel) -> List[TTTMixer]:
    return [m for m in model.modules() if isinstance(m, TTTMixer)]


@contextlib.contextmanager
def memory_off(model: BitTTTModel) -> Iterator[None]:
    """Within the block every TTT layer runs with its inner learning rate × 0 (the state stays at its init)."""
    mixers = ttt_mixers(model)
    if not mixers:
        raise DiagnosticsError(f"memory off needs TTT layers, and this model has none (layers: "
                               f"{', '.join(model.config['mixers'])}); it has no test-time memory to switch off")
    old = [m.memory_scale for m in mixers]
    try:
        for m in mixers:
            m.memory_scale = 0.0
        yield
    finally:
        for m, s in zip(mixers, old):
            m.memory_scale = s


def split_stories(tokens: np.ndarray, eot: int) -> List[np.ndarray]:
    """The stories of a prepare-data token stream (each story followed by eot), empty ones dropped."""
    arr = np.asarray(tokens, dtype=np.int64)
    ends = np.flatnonzero(arr == eot)
    starts = np.concatenate(([0], ends + 1))
    ends = np.concatenate((ends, [arr.size]))
    return [arr[s:e] for s, e in zip(starts, ends) if e > s]


def token_byte_lengths(tokenizer: Dict[str, Any], vocab_size: int) -> np.ndarray:
    """Bytes each id stands for (256 bytes, then merges; a special such as eot counts 1, as in bpb)."""
    lengths = np.ones(vocab_size, dtype=np.int64)
    for j, (a, b) in enumerate(tokenizer["merges"]):
        if 256 + j < vocab_size:
            lengths[256 + j] = lengths[a] + lengths[b]
    return lengths


def limit_stories(stories: List[np.ndarray], byte_lengths: np.ndarray, limit_bytes: int) -> List[np.ndarray]:
    """The first whole stories whose bytes (text + 1 for the eot) stay within limit_bytes (the CLI's rule)."""
    used, kept = 0, []
    for s in stories:
        n = int(byte_lengths[s].sum()) + 1
        if used + n > limit_bytes:
            break
        used += n
        kept.append(s)
    return kept


@torch.no_grad()
def batched_logit_stats(model: BitTTTModel, streams: Sequence[np.ndarray], device, batch_tokens: int = 8192,
                        want: str = "nll") -> List[np.ndarray]:
    """For each stream of L tokens, per position p < L−1: −log p(stream[p+1]) ("nll") or argmax ("argmax").

    Streams are sorted by length and padded on the right within a batch (causal mixers: padding is never seen)."""
    order = sorted(range(len(streams)), key=lambda i: len(streams[i]))
    out: List[Optional[np.ndarray]] = [None] * len(streams)
    was_training = model.training
    model.eval()
    i = 0
    while i < len(order):
        longest = len(streams[order[i]])
        j = i
        while j < len(order) and (j - i + 1) * len(streams[order[j]]) <= max(batch_tokens, len(streams[order[j]])):
            longest = len(streams[order[j]])
            j += 1
        group = order[i:j]
        arr = np.zeros((len(group), longest), dtype=np.int64)
        for r, k in enumerate(group):
            arr[r, : len(streams[k])] = streams[k]
        x = torch.from_numpy(arr).to(device)
        logits, _ = model(x[:, :-1])
        if want == "nll":
            stat = F.cross_entropy(logits.float().transpose(1, 2), x[:, 1:], reduction="none").double()
        else:
            stat = logits.argmax(-1)
        stat = stat.cpu().numpy()
        for r, k in enumerate(group):
            out[k] = stat[r, : len(streams[k]) - 1]
        i = j
    model.train(was_training)
    return out  # type: ignore[return-value]


def read_twice(model: BitTTTModel, stories: List[np.ndarray], eot: int, device,
               batch_tokens: int = 8192) -> Dict[str, Any]:
    bounded = "attn" in model.config["mixers"]
    max_context = int(model.config["maxContext"])
    streams, lengths, skipped = [], [], 0
    for s in stories:
        n = len(s)
        if bounded and 2 * n + 2 > max_context:
            skipped += 1
            continue
        streams.append(np.concatenate(([eot], s, [eot], s)))
        lengths.append(n)
    if not streams:
        raise DiagnosticsError(f"every story ({skipped}) is too long to read twice within maxContext {max_context}")
    nll = batched_logit_stats(model, streams, device, batch_tokens)
    first = second = 0.0
    for n, row in zip(lengths, nll):
        # stream position p predicts stream[p+1]: the first copy is stream[1..n], the second stream[n+2..2n+1]
        first += float(row[:n].sum())
        second += float(row[n + 1 : 2 * n + 1].sum())
    tokens = sum(lengths)
    return {"stories": len(streams), "skipped": skipped, "tokens": tokens, "firstNats": first / tokens,
            "secondNats": second / tokens, "drop": 1 - second / first}


def load_probe(path: str) -> Dict[str, Any]:
    if not os.path.exists(path):
        raise DiagnosticsError(f"recall probe {path} not found (it is made by scripts/make-recall-probe.ts)")
    with open(path) as fh:
        probe = json.load(fh)
    if probe.get("version") != 1 or not isinstance(probe.get("items"), list):
        raise DiagnosticsError(f"{path} is not a version-1 recall probe (docs/DIAGNOSTICS.md)")
    return probe


def _recall_outcomes(model: BitTTTModel, items: List[Dict[str, Any]], eot: int, device, batch_tokens: int):
    vocab = int(model.config["vocabSize"])
    if any(max(item["ids"]) >= vocab for item in items):
        raise DiagnosticsError(f"the recall probe holds token ids ≥ the model's vocabSize {vocab}: it was made for "
                               "another tokenizer (make one with scripts/make-recall-probe.ts)")
    bounded = "attn" in model.config["mixers"]
    max_context = int(model.config["maxContext"])
    streams, kept, skipped = [], [], 0
    for item in items:
        last = max(q["answerEnd"] for q in item["queries"])
        if bounded and last + 1 > max_context:
            skipped += 1
            continue
        # the stream [eot] + ids[0..last]: position i predicts ids[i]
        streams.append(np.asarray([eot] + list(item["ids"][:last]), dtype=np.int64))
        kept.append(item)
    preds = batched_logit_stats(model, streams, device, batch_tokens, want="argmax")
    outcomes = []
    for item, pred in zip(kept, preds):
        for q in item["queries"]:
            ok = all(int(pred[p]) == int(item["ids"][p]) for p in range(q["answerStart"], q["answerEnd"]))
            outcomes.append((ok, int(q["distance"])))
    return outcomes, len(kept), skipped


def _summarize(outcomes) -> Dict[str, Any]:
    def score(lst):
        correct = sum(1 for ok, _ in lst if ok)
        return {"queries": len(lst), "correct": correct, "accuracy": correct / len(lst) if lst else float("nan")}

    by = []
    for lo, hi in zip(RECALL_DISTANCE_EDGES[:-1], RECALL_DISTANCE_EDGES[1:]):
        by.append({"from": lo, "to": hi if math.isfinite(hi) else None,
                   **score([o for o in outcomes if lo <= o[1] < hi])})
    return {**score(outcomes), "byDistance": by}


def recall(model: BitTTTModel, probe: Dict[str, Any], eot: int, device, batch_tokens: int = 8192,
           probe_name: str = "") -> Dict[str, Any]:
    outcomes, n_items, skipped = _recall_outcomes(model, probe["items"], eot, device, batch_tokens)
    result = {"probe": probe_name, "items": n_items, "skipped": skipped, **_summarize(outcomes)}
    controls = probe.get("controls") or []
    if controls:
        c_out, _, _ = _recall_outcomes(model, controls, eot, device, batch_tokens)
        result["control"] = _summarize(c_out)
    return result


def run_all(model: BitTTTModel, meta: Dict[str, Any], valid_tokens: np.ndarray, valid_bytes: int, context: int,
            device, probe_path: Optional[str] = DEFAULT_PROBE, read_twice_stories: int = 0,
            limit_bytes: int = 0, batch: int = 16, log: Callable[[str], None] = lambda s: None,
            valid_tokens_cap: int = 0, recall_memory_off: bool = True, data_dir: str = "") -> Dict[str, Any]:
    """Every diagnostic (memory-off variants only for a model with TTT layers). valid_tokens_cap > 0 evaluates
    only the first that many valid tokens (bpb then scales the bytes by the fraction: marked partial)."""
    from common import evaluate_bpb

    eot = int(meta["eotId"])
    has_ttt = bool(ttt_mixers(model))
    result: Dict[str, Any] = {}
    cap = valid_tokens_cap or None
    v = evaluate_bpb(model, valid_tokens, valid_bytes, context, batch, device, cap)
    result["valid"] = {"loss": v["loss"], "bpb": v["bpb"], "tokens": v["tokens"], "context": context,
                       "partial": v["partial"]}
    log(f"valid bpb {v['bpb']:.4f}")
    if has_ttt:
        with memory_off(model):
            off = evaluate_bpb(model, valid_tokens, valid_bytes, context, batch, device, cap)
        result["memoryOff"] = {"loss": off["loss"], "bpb": off["bpb"], "lossIncrease": off["loss"] / v["loss"] - 1}
        log(f"memory off: valid bpb {off['bpb']:.4f}")
    stories = split_stories(valid_tokens, eot)
    if limit_bytes:
        from common import tokenizer_spec

        stories = limit_stories(stories, token_byte_lengths(tokenizer_spec(meta, data_dir), int(meta["vocabSize"])),
                                limit_bytes)
    if read_twice_stories:
        stories = stories[:read_twice_stories]
    if not stories:
        raise DiagnosticsError("no whole story to read twice (check --limit-bytes)")
    result["readTwice"] = read_twice(model, stories, eot, device)
    log(f"read twice: {result['readTwice']}")
    if has_ttt:
        with memory_off(model):
            result["readTwiceMemoryOff"] = read_twice(model, stories, eot, device)
    if probe_path:
        probe = load_probe(probe_path)
        result["recall"] = recall(model, probe, eot, device, probe_name=os.path.relpath(probe_path))
        log(f"recall {result['recall']['accuracy']:.3f}")
        if has_ttt and recall_memory_off:
            with memory_off(model):
                result["recallMemoryOff"] = recall(model, probe, eot, device, probe_name=os.path.relpath(probe_path))
    result["memory"] = "on"  # the memory-off numbers are the *MemoryOff / memoryOff entries
    return result
