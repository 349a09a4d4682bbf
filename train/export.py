"""Export a training checkpoint to .bttt (docs/FORMAT.md) and write golden vectors for the runtimes.

    /usr/bin/python3 train/export.py --ckpt train/runs/NAME/ckpt.pt --data train/data \
        --out public/models/NAME.bttt --golden train/golden/NAME.json [--name NAME] [--embed-dtype f16]

Golden file: { model: "public/models/<name>.bttt", cases: [ { tokens, logits: base64 LE f32 [T × V] } ] }, computed
by the *exported* model (ternary values + scales, f16 embeddings widened to f32) re-read from the file, evaluated on the
CPU in f32 with the token-by-token (primal) TTT form of MATH.md.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import sys
from typing import Any, Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bttt import expected_tensors, read_bttt, write_bttt  # noqa: E402
from common import load_checkpoint, load_meta, load_tokens, tokenizer_spec  # noqa: E402
from model import BitTTTModel, bitlinear_modules, math_tensors, ternary_quantize  # noqa: E402

GOLDEN_MAX_BYTES = 700_000


def export_model(model: BitTTTModel, path: str, tokenizer: Dict[str, Any], metadata: Dict[str, Any],
                 embed_dtype: str = "f16") -> int:
    config = model.config
    params = math_tensors(model)
    entries = []
    ternary_bits = 0
    for name, role, shape in expected_tensors(config):
        if name not in params:
            raise KeyError(f"the model has no tensor {name}")
        p = params[name].detach().float().cpu()
        if list(p.shape) != shape:
            raise ValueError(f"{name}: model shape {list(p.shape)} != MATH.md shape {shape}")
        if role == "ternary":
            wq, s_w = ternary_quantize(p)
            entries.append((name, "t158", shape, (wq.to(torch.int8).numpy(), float(s_w))))
            ternary_bits += p.numel()
        elif name in ("tok_embed", "lm_head"):
            entries.append((name, embed_dtype, shape, p.numpy()))
        else:
            entries.append((name, "f32", shape, p.numpy()))
    return write_bttt(path, config, tokenizer, metadata, entries)


def model_from_bttt(path: str) -> BitTTTModel:
    """Build an f32 CPU model whose BitLinears use the file's ternary values and scales exactly."""
    f = read_bttt(path)
    model = BitTTTModel(f["config"])
    params = math_tensors(model)
    linears = bitlinear_modules(model)
    with torch.no_grad():
        for name, value in f["tensors"].items():
            if isinstance(value, tuple):
                values, scale = value
                linears[name].freeze(torch.from_numpy(values.astype(np.float32)), scale)
                params[name].copy_(torch.from_numpy(values.astype(np.float32)) * scale)
            else:
                params[name].copy_(torch.from_numpy(value))
    model.eval()
    return model


def golden_token_count(vocab: int, cases: int, wanted: int = 12) -> int:
    per_token = vocab * 4 * 4 / 3  # base64 of f32 logits
    return max(2, min(wanted, int(GOLDEN_MAX_BYTES / (cases * per_token))))


def story_starts(tokens: np.ndarray, eot: int, count: int, length: int) -> List[List[int]]:
    """The first `length` tokens of the first `count` stories (a story starts at 0 or after an eot)."""
    head = np.asarray(tokens[: min(tokens.size, 200_000)])
    starts = [0] + [int(i) + 1 for i in np.nonzero(head == eot)[0]]
    out = []
    for s in starts:
        seq = head[s : s + length]
        if seq.size == length and eot not in seq[:-1]:
            out.append([int(t) for t in seq])
        if len(out) == count:
            break
    if len(out) < count:
        raise ValueError(f"found only {len(out)} stories of {length} tokens in the first 200k valid tokens")
    return out


@torch.no_grad()
def golden_cases(model: BitTTTModel, sequences: List[List[int]]) -> List[Dict[str, Any]]:
    cases = []
    for seq in sequences:
        logits, _ = model(torch.tensor([seq], dtype=torch.long), primal=True)
        raw = logits[0].to(torch.float32).numpy().astype("<f4").tobytes()
        cases.append({"tokens": seq, "logits": base64.b64encode(raw).decode("ascii")})
    return cases


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--data", default="train/data")
    ap.add_argument("--out", required=True, help=".bttt path")
    ap.add_argument("--golden", help="golden JSON path (default: none)")
    ap.add_argument("--name", help="model name (default: the .bttt file stem)")
    ap.add_argument("--embed-dtype", choices=("f16", "f32"), default="f16")
    ap.add_argument("--golden-cases", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))

    name = args.name or os.path.splitext(os.path.basename(args.out))[0]
    model, ckpt = load_checkpoint(args.ckpt, torch.device("cpu"))
    meta = load_meta(args.data)
    if meta["vocabSize"] != model.config["vocabSize"]:
        raise ValueError(f"meta.json vocabSize {meta['vocabSize']} != model vocabSize {model.config['vocabSize']}")
    summary = ckpt.get("summary", {})
    metadata = {
        "name": name,
        "kind": "trained",
        "trainer": "train/train.py",
        "steps": ckpt["step"],
        "tokens": ckpt.get("tokens_seen", 0),
        "trainSeconds": round(ckpt.get("elapsed", 0.0), 1),
        "hardware": ckpt.get("hardware", "unknown"),
        "validBpb": summary.get("valid_bpb"),
        "validLoss": summary.get("valid_loss"),
        "args": ckpt.get("args", {}),
        "exported": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
        "embedDtype": args.embed_dtype,
    }
    if args.golden:
        metadata["golden"] = os.path.relpath(args.golden) if not os.path.isabs(args.golden) else args.golden
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    size = export_model(model, args.out, tokenizer_spec(meta, args.data), metadata, args.embed_dtype)
    exported = model_from_bttt(args.out)
    print(json.dumps({"bttt": args.out, "bytes": size}))
    if args.golden:
        valid = load_tokens(args.data, "valid")
        n = golden_token_count(model.config["vocabSize"], args.golden_cases)
        seqs = story_starts(valid, int(meta["eotId"]), args.golden_cases, n)
        golden = {"model": f"public/models/{name}.bttt", "cases": golden_cases(exported, seqs)}
        os.makedirs(os.path.dirname(os.path.abspath(args.golden)), exist_ok=True)
        with open(args.golden, "w") as fh:
            json.dump(golden, fh)
        print(json.dumps({"golden": args.golden, "bytes": os.path.getsize(args.golden), "tokensPerCase": n}))


if __name__ == "__main__":
    main()
