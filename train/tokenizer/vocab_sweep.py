"""Which BPE vocabulary suits a ~5M-parameter ternary model? Trains the same BitNet attention model (the KV
baseline of DESIGN.md: d 256, 6 layers, 4 heads, SwiGLU 768, tied embeddings, context 256) for the same number
of steps on train/data/sweep/v{N} (made by prepare-data with each tokenizer) and reports valid bits per byte.
Equal steps = roughly equal compute; a bigger vocabulary covers more bytes per step but costs embedding
parameters (V x 256) and spreads the data over more, rarer rows.

    python3 train/tokenizer/vocab_sweep.py --steps 600 --vocabs 257 1024 2048 4096 8192
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from common import evaluate_bpb, load_meta, load_tokens, split_bytes  # noqa: E402
from model import BitTTTModel  # noqa: E402


def run(vocab: int, steps: int, batch: int, context: int, lr: float, device: torch.device, seed: int,
        eval_tokens: int | None) -> dict:
    data_dir = os.path.join(HERE, "..", "data", "sweep", f"v{vocab}")
    meta = load_meta(data_dir)
    train = np.asarray(load_tokens(data_dir, "train"), dtype=np.int64)
    valid = load_tokens(data_dir, "valid")
    config = {
        "arch": "kv", "vocabSize": meta["vocabSize"], "dModel": 256, "nLayers": 6, "nHeads": 4, "ffnHidden": 768,
        "mixers": ["attn"] * 6, "contextLength": context, "maxContext": 4 * context, "tieEmbeddings": True,
    }
    torch.manual_seed(seed)
    model = BitTTTModel(config).to(device)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))))
    rng = np.random.default_rng(seed)
    train_tokens = torch.from_numpy(train).to(device)
    started = time.time()
    for step in range(steps):
        starts = torch.from_numpy(rng.integers(0, train.size - context - 1, size=batch)).to(device)
        idx = starts[:, None] + torch.arange(context + 1, device=device)[None]
        x = train_tokens[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, _ = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.time() - started
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        result = evaluate_bpb(model, valid, split_bytes(meta, "valid"), context, 64, device, eval_tokens)
    tokens_seen = steps * batch * context
    bytes_per_token = meta["files"]["train"]["bytes"] / meta["files"]["train"]["tokens"]
    return {
        "vocab": meta["vocabSize"], "params": params, "embeddingParams": meta["vocabSize"] * 256,
        "validBpb": result["bpb"], "validLoss": result["loss"], "trainLoss": float(loss),
        "tokensSeen": tokens_seen, "trainBytesSeen": round(tokens_seen * bytes_per_token),
        "epochs": tokens_seen / meta["files"]["train"]["tokens"], "trainSeconds": train_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocabs", type=int, nargs="+", default=[257, 1024, 2048, 4096, 8192])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--eval-tokens", type=int, default=None, help="smoke tests: evaluate only this many")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()) if not torch.cuda.is_available() else torch.get_num_threads())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"device: {torch.cuda.get_device_name(device)}", flush=True)
    results = []
    for vocab in args.vocabs:
        result = run(vocab, args.steps, args.batch, args.context, args.lr, device, args.seed, args.eval_tokens)
        print(json.dumps(result), flush=True)
        results.append(result)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump({"args": vars(args), "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
