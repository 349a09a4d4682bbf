"""Write a small synthetic data dir (train.bin, valid.bin, meta.json in the prepare-data format) for smoke tests.

    /usr/bin/python3 train/make_synthetic_data.py --out /tmp/synth [--vocab 512] [--train-tokens 200000]

Stories are walks of a fixed random Markov chain (so there is something to learn, and a long-range token that
repeats inside a story, so memory helps), each followed by the eot id. The tokenizer's merges are arbitrary pairs so
that 256 + merges + 1 special = vocab, as FORMAT.md requires; bytes are counted as the token's expansion length.
"""
import argparse
import json
import os

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--train-tokens", type=int, default=200_000)
    ap.add_argument("--valid-tokens", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.vocab < 258:
        raise SystemExit("--vocab must be at least 258 (256 bytes, one merge, the eot special)")
    rng = np.random.default_rng(args.seed)
    V, eot = args.vocab, args.vocab - 1
    merges = [[int(a), int(b)] for a, b in rng.integers(0, 256, size=(V - 257, 2))]
    lengths = np.ones(V, dtype=np.int64)
    for j, (a, b) in enumerate(merges):
        lengths[256 + j] = lengths[a] + lengths[b]
    lengths[eot] = 0
    successors = rng.integers(0, V - 1, size=(V - 1, 3))  # each token has 3 likely successors

    def stream(n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.uint16)
        i = 0
        while i < n:
            name = int(rng.integers(0, V - 1))
            tok = name
            for _ in range(int(rng.integers(40, 160))):
                if i >= n:
                    break
                out[i] = tok
                i += 1
                r = rng.random()
                tok = name if r < 0.1 else int(successors[tok, int(rng.integers(0, 3))]) if r < 0.9 else int(rng.integers(0, V - 1))
            if i < n:
                out[i] = eot
                i += 1
        return out

    os.makedirs(args.out, exist_ok=True)
    files = {}
    for split, n in (("train", args.train_tokens), ("valid", args.valid_tokens)):
        toks = stream(n)
        toks.astype("<u2").tofile(os.path.join(args.out, f"{split}.bin"))
        files[split] = {"tokens": int(n), "bytes": int(lengths[toks].sum())}
    meta = {"vocabSize": V, "eotId": eot, "files": files,
            "tokenizer": {"type": "bpe", "merges": merges, "specials": {"<|endoftext|>": eot}}, "synthetic": True}
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh)
    print(json.dumps({"out": args.out, **files}))


if __name__ == "__main__":
    main()
