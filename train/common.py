"""Shared helpers of the trainer, evaluator and exporter: data files, tokenizer spec, checkpoints, devices."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from model import BitTTTModel


class DataError(ValueError):
    """Missing or inconsistent train/data files."""


def load_meta(data_dir: str) -> Dict[str, Any]:
    path = os.path.join(data_dir, "meta.json")
    if not os.path.exists(path):
        raise DataError(f"{path} not found (run `npm run prepare-data` first)")
    with open(path) as fh:
        meta = json.load(fh)
    for key in ("vocabSize", "eotId", "files"):
        if key not in meta:
            raise DataError(f"{path} lacks {key}")
    return meta


def load_tokens(data_dir: str, split: str) -> np.ndarray:
    path = os.path.join(data_dir, f"{split}.bin")
    if not os.path.exists(path):
        raise DataError(f"{path} not found")
    tokens = np.memmap(path, dtype="<u2", mode="r")
    if tokens.size < 2:
        raise DataError(f"{path} holds fewer than 2 tokens")
    return tokens


def split_bytes(meta: Dict[str, Any], split: str) -> int:
    n = int(meta["files"][split]["bytes"])
    if n <= 0:
        raise DataError(f"meta.json files.{split}.bytes must be positive")
    return n


def tokenizer_spec(meta: Dict[str, Any], data_dir: str) -> Dict[str, Any]:
    """meta.tokenizer is the FORMAT.md tokenizer object, or a path (relative to the data dir, the repo root or
    absolute) to a JSON file holding it (possibly under a "tokenizer" key)."""
    tok = meta.get("tokenizer")
    if isinstance(tok, str):
        here = os.path.dirname(os.path.abspath(__file__))
        for cand in (tok, os.path.join(data_dir, tok), os.path.join(here, "..", tok)):
            if os.path.exists(cand):
                with open(cand) as fh:
                    tok = json.load(fh)
                break
        else:
            raise DataError(f"tokenizer file {meta['tokenizer']} not found")
    if isinstance(tok, dict) and "tokenizer" in tok and "merges" not in tok:
        tok = tok["tokenizer"]
    if not isinstance(tok, dict) or "merges" not in tok:
        raise DataError("meta.json tokenizer is neither a tokenizer object nor a path to one")
    return {"type": tok.get("type", "bpe"), "merges": tok["merges"], "specials": tok.get("specials", {})}


def pick_device(name: Optional[str] = None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def hardware_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def torch_load(path: str, device) -> Dict[str, Any]:
    """Our own checkpoints hold plain dicts of config/args next to tensors (PyTorch ≥ 2.6 defaults to weights_only)."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except TypeError:  # a PyTorch without the weights_only argument
        return torch.load(path, map_location=device)


def load_checkpoint(path: str, device: torch.device) -> Tuple[BitTTTModel, Dict[str, Any]]:
    ckpt = torch_load(path, device)
    model = BitTTTModel(ckpt["config"]).to(device)
    state = {k: v.float() for k, v in ckpt["model"].items()}
    model.load_state_dict(state)
    return model, ckpt


def windows(tokens: np.ndarray, length: int, max_tokens: Optional[int] = None) -> Iterator[Tuple[int, int]]:
    """Non-overlapping windows [s, s+length] of input+target (the last one may be short)."""
    n = tokens.size - 1
    if max_tokens is not None:
        n = min(n, max_tokens)
    for s in range(0, n, length):
        yield s, min(length, n - s)


@torch.no_grad()
def evaluate_bpb(model: BitTTTModel, tokens: np.ndarray, n_bytes: int, context: int, batch: int,
                 device: torch.device, max_tokens: Optional[int] = None) -> Dict[str, float]:
    """Mean loss over the valid tokens in windows of the training context; bpb = nats / ln 2 / bytes.
    With max_tokens, bytes are scaled by the fraction of tokens evaluated (an estimate; marked partial)."""
    was_training = model.training
    model.eval()
    total_nats, total_tokens = 0.0, 0
    spans = list(windows(tokens, context, max_tokens))
    full = [s for s in spans if s[1] == context]
    tail = [s for s in spans if s[1] != context]
    for i in range(0, len(full), batch):
        chunk = full[i : i + batch]
        arr = np.stack([np.asarray(tokens[s : s + context + 1], dtype=np.int64) for s, _ in chunk])
        x = torch.from_numpy(arr).to(device)
        logits, _ = model(x[:, :-1])
        nats = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), x[:, 1:].reshape(-1),
                                                 reduction="sum")
        total_nats += float(nats)
        total_tokens += x[:, 1:].numel()
    for s, ln in tail:
        arr = np.asarray(tokens[s : s + ln + 1], dtype=np.int64)[None]
        x = torch.from_numpy(arr).to(device)
        logits, _ = model(x[:, :-1])
        total_nats += float(torch.nn.functional.cross_entropy(logits[0].float(), x[0, 1:], reduction="sum"))
        total_tokens += ln
    model.train(was_training)
    evaluated_fraction = total_tokens / max(1, tokens.size - 1)
    bytes_used = n_bytes * evaluated_fraction
    return {
        "loss": total_nats / max(1, total_tokens),
        "bpb": total_nats / math.log(2) / bytes_used,
        "tokens": total_tokens,
        "partial": evaluated_fraction < 1.0,
    }
