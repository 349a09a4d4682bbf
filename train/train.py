"""Train a Bit-TTT model (docs/MATH.md) on train/data token files. See train/README.md for the schedule.

    /usr/bin/python3 train/train.py --data train/data --config train/configs/ttt-small.json --steps 2000 \
        --batch 32 --context 256 --lr 1.5e-3 --out train/runs/NAME [--resume] [--carry-state] [--seed 1] \
        [--time-limit SECONDS]

Multi-GPU: `torchrun --nproc_per_node N train/train.py ...` (DistributedDataParallel when WORLD_SIZE is set; --batch is
per GPU). Writes NAME/log.jsonl (train loss, lr, tokens/s; periodic valid loss/bpb), NAME/ckpt.pt (resumable) and
NAME/summary.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

# One thread per process unless told otherwise: on the shared 2-core machines two threads in one process are a trap
# (the OpenMP/OpenBLAS pools spin while another job holds the other core; a step took 37.8 CPU-s against 1.75).
# These must be set before torch (and its BLAS) load; one process per core is the recipe (train/cpu/run.sh).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (DataError, evaluate_bpb, hardware_name, load_meta, load_tokens, pick_device,  # noqa: E402
                    split_bytes, torch_load)
from fastpath import enable_bf16  # noqa: E402
from model import BitLinear, BitTTTModel, count_parameters, decode_state_bytes  # noqa: E402

# BitNet b1.58 two-stage schedule (README "Schedule"): linear warm-up to the peak, stage 1 (first half) cosine from
# the peak to STAGE1_END·peak with weight decay WD_STAGE1, then an abrupt drop to STAGE2_START·peak and a cosine to
# STAGE2_END·peak with no weight decay.
STAGE1_END = 0.5
STAGE2_START = 0.4
STAGE2_END = 0.04
WD_STAGE2 = 0.0


def schedule(step: int, total: int, peak: float, warmup: int, wd: float):
    """(lr, weight decay) for the update made at 0-based `step`."""
    half = max(1, total // 2)
    if step < warmup:
        return peak * (step + 1) / warmup, wd
    if step < half:
        p = (step - warmup) / max(1, half - warmup)
        return peak * (STAGE1_END + (1 - STAGE1_END) * 0.5 * (1 + math.cos(math.pi * p))), wd
    p = (step - half) / max(1, total - half - 1)
    lo, hi = STAGE2_END * peak, STAGE2_START * peak
    return lo + (hi - lo) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))), WD_STAGE2


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="train/data")
    ap.add_argument("--config", required=True, help="JSON model config (MATH.md); vocabSize comes from meta.json")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--batch", type=int, default=32, help="sequences per step (per GPU under torchrun)")
    ap.add_argument("--context", type=int, default=256, help="training context T (a multiple of the TTT mini-batch)")
    ap.add_argument("--lr", type=float, default=1.5e-3, help="peak learning rate")
    ap.add_argument("--warmup", type=int, default=-1, help="warm-up steps (default 2%% of --steps, at least 1)")
    ap.add_argument("--wd", type=float, default=0.1, help="weight decay in stage 1 (stage 2 uses 0)")
    ap.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt (exactly)")
    ap.add_argument("--init-from", help="start from the weights of a checkpoint (e.g. an f16 one), fresh optimizer")
    ap.add_argument("--carry-state", action="store_true",
                    help="each batch row reads a contiguous stream; TTT/conv/swa state carries between segments")
    ap.add_argument("--carry-segments", type=int, default=8,
                    help="with --carry-state: reset the state (position 0) every N segments")
    ap.add_argument("--repeat-frac", type=float, default=0.0,
                    help="fraction of each batch's windows that read a story twice: eot, story, eot, the same story, "
                         "eot, then the stream continues (README 'Repeat windows'); 0 = plain windows only")
    ap.add_argument("--swa-windows", default="",
                    help="comma list: each step's sliding-window layers use one of these windows, drawn from (seed, "
                         "step) (stochastic windows, SWAX arXiv 2509.24552); evaluation and export keep config.window")
    ap.add_argument("--lesson-frac", type=float, default=0.0,
                    help="share of each batch's rows that are recall lessons (npm run make-lessons): facts, a gap of "
                         "real story text, then questions about the facts with their answers")
    ap.add_argument("--lessons", default="", help="lessons JSON (default: DATA/lessons.json)")
    ap.add_argument("--lesson-min-gap", type=int, default=64,
                    help="fewest story tokens between a lesson's facts and its questions (the SWA window: 64)")
    ap.add_argument("--drill-frac", type=float, default=0.0,
                    help="share of each batch's rows (the last ones) that are recall drills: MQAR in the stories' "
                         "tokens (README 'Recall drills'), scored only at the answers, as their own loss term")
    ap.add_argument("--drill-weight", type=float, default=1.0,
                    help="weight of the drills' mean answer loss beside the language-model loss of the other rows")
    ap.add_argument("--drill-pairs", default="4,8,16",
                    help="comma list: each drill row holds one of these numbers of key-value pairs")
    ap.add_argument("--drill-pack", action="store_true",
                    help="fill each drill row with drills one after another (gaps of min-gap to 2 x min-gap story "
                         "tokens) instead of one drill and then story text: several times the answers per row")
    ap.add_argument("--drill-only-steps", type=int, default=0,
                    help="a curriculum: the first K steps every row is a drill (the loss is the drills' alone), "
                         "then --drill-frac of the rows")
    ap.add_argument("--drill-pool", type=int, default=1024,
                    help="keys and values are drawn from this many of the stories' common tokens (frequency ranks 16 "
                         "on); the recall study's MQAR drew values from 128")
    ap.add_argument("--drill-min-gap", type=int, default=64,
                    help="fewest story tokens between a drill's pairs and its questions (the SWA window: 64)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=0, help="stop training after this many seconds (0: none)")
    ap.add_argument("--stop-file", default="",
                    help="stop as at --time-limit (checkpoint, summary) once this file exists (train/cpu/run.sh stop)")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=0, help="valid loss every N steps (0: only at the end)")
    ap.add_argument("--eval-tokens", type=int, default=262144, help="tokens for periodic evals (estimated bpb)")
    ap.add_argument("--final-eval-tokens", type=int, default=0, help="tokens for the final eval (0: all of valid.bin)")
    ap.add_argument("--eval-batch", type=int, default=32)
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch (1: one process per core is faster on shared cores)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the model (PyTorch 2 only; falls back to eager if the first step fails)")
    ap.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                    help="exact bf16 BitLinear products (fastpath.py): auto = on CUDA when the device check passes")
    ap.add_argument("--probe-seconds", type=float, default=0,
                    help="measure the step rate for this long, write OUT/probe.json and exit")
    args = ap.parse_args(argv)
    if args.steps <= 0 or args.batch <= 0 or args.context <= 0:
        ap.error("--steps, --batch and --context must be positive")
    if not 0.0 <= args.repeat_frac <= 1.0:
        ap.error("--repeat-frac must be between 0 and 1")
    if not 0.0 <= args.lesson_frac <= 1.0 or args.repeat_frac + args.lesson_frac > 1.0:
        ap.error("--lesson-frac must be between 0 and 1, and with --repeat-frac at most 1")
    args.drill_pairs = [int(n) for n in str(args.drill_pairs).split(",") if n.strip()]
    if not 0.0 <= args.drill_frac <= 1.0 or args.repeat_frac + args.lesson_frac + args.drill_frac > 1.0:
        ap.error("--drill-frac must be between 0 and 1, and with --repeat-frac and --lesson-frac at most 1")
    if args.drill_only_steps and not args.drill_frac:
        ap.error("--drill-only-steps needs --drill-frac (the drills' share after the curriculum)")
    if args.drill_frac and (args.carry_state or not args.drill_pairs or min(args.drill_pairs) < 1):
        ap.error("--drill-frac needs random windows (no --carry-state) and positive --drill-pairs")
    if args.lesson_frac and args.carry_state:
        ap.error("--lesson-frac works on random windows; it cannot be combined with --carry-state")
    try:
        args.swa_windows = [int(w) for w in args.swa_windows.split(",") if w.strip()]
    except ValueError:
        ap.error("--swa-windows takes a comma list of positive integers")
    if any(w <= 0 for w in args.swa_windows):
        ap.error("--swa-windows takes a comma list of positive integers")
    if args.swa_windows and args.carry_state:
        ap.error("--swa-windows changes the window per step; a carried K/V window cannot follow it (--carry-state)")
    if args.repeat_frac and args.carry_state:
        ap.error("--repeat-frac works on random windows; it cannot be combined with --carry-state")
    return args


def load_config(path: str, meta: Dict[str, Any], context: int) -> Dict[str, Any]:
    with open(path) as fh:
        cfg = json.load(fh)
    cfg.pop("_comment", None)
    cfg["vocabSize"] = int(meta["vocabSize"])
    cfg["contextLength"] = context
    return cfg


class Batches:
    """Deterministic batches from the step number alone, so a resumed run reads exactly what it would have read.

    With repeat_frac > 0, the first round(repeat_frac·batch) rows of every batch are repeat windows: a random story
    s (at most (T−2)/2 tokens of it: a longer story is cut to its beginning) is read as eot, s, eot, s, and the
    window continues with the stream after the story (its eot, then the next stories), T+1 tokens in all. So a cut
    story looks like a short story told twice. The second copy is cheap only for a model that
    remembers the first, so these windows reward using the memory (diagnostics.md "read twice" reads the same
    layout)."""

    def __init__(self, tokens: np.ndarray, batch: int, context: int, seed: int, rank: int, world: int,
                 carry: bool, carry_segments: int, repeat_frac: float = 0.0, eot_id: Optional[int] = None,
                 lessons: Optional[List[Any]] = None, lesson_frac: float = 0.0, lesson_min_gap: int = 64,
                 lesson_sep: Sequence[int] = (), drill_frac: float = 0.0, drill_pairs: Sequence[int] = (4, 8, 16),
                 drill_min_gap: int = 64, drill_pack: bool = False, drill_only_steps: int = 0,
                 drill_pool: int = 1024):
        self.tokens, self.B, self.T, self.seed, self.rank = tokens, batch, context, seed, rank
        self.carry, self.cs = carry, carry_segments
        n = tokens.size
        if n < context + 2:
            raise DataError(f"train.bin holds {n} tokens, fewer than one context of {context}")
        self.n_repeat = int(round(repeat_frac * batch))
        self.n_lesson = int(round(lesson_frac * batch))
        if self.n_lesson:
            if not lessons:
                raise DataError("--lesson-frac needs lessons (npm run make-lessons)")
            # a lesson, its gap and its questions must fit a window: keep the lessons that leave room for the gap
            self.sep = np.asarray(lesson_sep, dtype=np.int64)
            room = context + 1 - 2 - 2 * self.sep.size - lesson_min_gap
            self.lessons = [(np.asarray(f, dtype=np.int64), np.asarray(q, dtype=np.int64)) for f, q in lessons
                            if len(f) + len(q) <= room]
            if not self.lessons:
                raise DataError(f"no lesson fits a window of {context} with a gap of {lesson_min_gap}")
            self.min_gap = lesson_min_gap
        self.n_drill = int(round(drill_frac * batch))
        if self.n_repeat + self.n_lesson + self.n_drill > batch:
            raise DataError("repeat, lesson and drill rows do not fit the batch")
        if self.n_drill:
            self.drill_pairs = [int(n) for n in drill_pairs]
            self.drill_min_gap = int(drill_min_gap)
            self.drill_pack = bool(drill_pack)
            self.drill_only_steps = int(drill_only_steps)
            if 1 + 4 * max(self.drill_pairs) + self.drill_min_gap > context + 1:
                raise DataError(f"a drill of {max(self.drill_pairs)} pairs and a gap of {drill_min_gap} does not fit "
                                f"a window of {context}")
            # keys and values: the stories' common tokens (frequency ranks 16..1040 of the first 4 M tokens), so a
            # drill reads like scrambled story words; the 16 commonest (punctuation, "the", ...) are left out
            counts = np.bincount(np.asarray(tokens[: 4_000_000], dtype=np.int64), minlength=int(eot_id or 0) + 1)
            if eot_id is not None:
                counts[int(eot_id)] = 0
            order = np.argsort(-counts, kind="stable")
            self.drill_pool = order[16 : 16 + drill_pool][counts[order[16 : 16 + drill_pool]] > 0]
            if self.drill_pool.size < 2 * max(self.drill_pairs):
                raise DataError("train.bin has too few distinct tokens for the drills")
        if self.n_repeat or self.n_lesson or self.n_drill:
            if eot_id is None:
                raise ValueError("repeat windows need the eot id")
            self.eot = int(eot_id)
            ends = np.flatnonzero(np.asarray(tokens) == self.eot)  # each story is followed by an eot
            starts = np.concatenate(([0], ends[:-1] + 1))
            # a story with a preceding eot (not the first), at least 2 tokens, and room for the window after it
            ok = (starts > 0) & (ends - starts >= 2) & (starts + context + 1 < n)
            self.story_starts, self.story_ends = starts[ok], ends[ok]
            if self.story_starts.size == 0:
                raise DataError("train.bin has no story (eot-delimited) that a repeat or lesson window can use")
        if carry:
            rows = batch * world
            region = n // rows
            self.span = ((region - 1) // (carry_segments * context)) * (carry_segments * context)
            if self.span == 0:
                raise DataError(f"train.bin too small for {rows} carry streams of {carry_segments}×{context} tokens")
            self.starts = np.arange(rank * batch, (rank + 1) * batch) * region

    def positions(self, step: int) -> np.ndarray:
        if self.carry:
            return self.starts + (step * self.T) % self.span
        rng = np.random.default_rng([self.seed, step, self.rank])
        return rng.integers(0, self.tokens.size - self.T - 1, size=self.B)

    def repeat_window(self, story: int) -> np.ndarray:
        s0, s1 = int(self.story_starts[story]), int(self.story_ends[story])
        body = np.asarray(self.tokens[s0 : min(s1, s0 + (self.T - 2) // 2)], dtype=np.int64)
        head = np.concatenate(([self.eot], body, [self.eot], body))
        rest = np.asarray(self.tokens[s1 : s1 + self.T + 1 - head.size], dtype=np.int64)  # from the story's eot on
        return np.concatenate((head, rest))

    def lesson_window(self, rng: np.random.Generator) -> np.ndarray:
        """eot, the facts, sep, a gap of real story text (from a story's start, min_gap tokens or more), sep, the
        questions with their answers, eot, and the stream after the gap's text: T+1 tokens."""
        facts, qa = self.lessons[int(rng.integers(len(self.lessons)))]
        most = self.T + 1 - 2 - 2 * self.sep.size - facts.size - qa.size
        gap = int(rng.integers(self.min_gap, most + 1))
        s0 = int(self.story_starts[int(rng.integers(self.story_starts.size))])
        filler = np.asarray(self.tokens[s0 : s0 + gap], dtype=np.int64)
        head = np.concatenate(([self.eot], facts, self.sep, filler, self.sep, qa, [self.eot]))
        rest = np.asarray(self.tokens[s0 + gap : s0 + gap + self.T + 1 - head.size], dtype=np.int64)
        return np.concatenate((head, rest))

    def one_drill(self, rng: np.random.Generator, n: int, gap: int) -> Tuple[np.ndarray, int]:
        """A recall drill (MQAR, Zoology arXiv 2312.04927, in the stories' tokens): eot, n pairs `k v` (distinct keys
        and values from the common-token pool), `gap` tokens of real story text (at least drill_min_gap, so the
        sliding window cannot see the pairs from the questions), the n keys again in a random order each followed by
        its value. Returns the tokens and where its story text starts in train.bin. Its first question's key is at
        1 + 2n + gap."""
        kv = rng.choice(self.drill_pool, size=2 * n, replace=False).astype(np.int64)
        keys, values = kv[:n], kv[n:]
        order = rng.permutation(n)
        s0 = int(self.story_starts[int(rng.integers(self.story_starts.size))])
        filler = np.asarray(self.tokens[s0 : s0 + gap], dtype=np.int64)
        drill = np.concatenate(([self.eot], np.stack([keys, values], 1).reshape(-1), filler,
                                np.stack([keys[order], values[order]], 1).reshape(-1)))
        return drill, s0

    def drill_window(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """A drill row: one drill (one_drill), eot, then the stream after the drill's story text: T+1 tokens; with
        --drill-pack, packed_drills. Returns the row and its answer mask over the T targets (True where the target is
        a question's value)."""
        if self.drill_pack:
            return self.packed_drills(rng)
        n = int(self.drill_pairs[int(rng.integers(len(self.drill_pairs)))])
        gap = int(rng.integers(self.drill_min_gap, self.T + 1 - 2 - 4 * n + 1))
        drill, s0 = self.one_drill(rng, n, gap)
        head = np.concatenate((drill, [self.eot]))
        rest = np.asarray(self.tokens[s0 + gap : s0 + gap + self.T + 1 - head.size], dtype=np.int64)
        mask = np.zeros(self.T, dtype=bool)
        q0 = 1 + 2 * n + gap  # the first question's key; target index t predicts row[t + 1]
        mask[q0 : q0 + 2 * n : 2] = True
        return np.concatenate((head, rest)), mask

    def packed_drills(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """--drill-pack: drills one after another (one_drill, fresh pairs each, gaps of min_gap..2 min_gap), an eot,
        then story text to fill the T+1 tokens. Each drill's pairs are farther than min_gap from its questions and
        from the next drill's questions too, so only a memory reaches them."""
        parts: List[np.ndarray] = []
        mask = np.zeros(self.T, dtype=bool)
        used = 0
        while True:
            n = int(self.drill_pairs[int(rng.integers(len(self.drill_pairs)))])
            gap = int(rng.integers(self.drill_min_gap, 2 * self.drill_min_gap + 1))
            if used + 1 + 4 * n + gap > self.T + 1 - 1:  # and room for the final eot
                if not parts:  # a first drill always fits: the shortest
                    n, gap = min(self.drill_pairs), self.drill_min_gap
                else:
                    break
            drill, _ = self.one_drill(rng, n, gap)
            q0 = used + 1 + 2 * n + gap
            mask[q0 : q0 + 2 * n : 2] = True
            parts.append(drill)
            used += drill.size
        head = np.concatenate(parts + [[self.eot]])
        s0 = int(self.story_starts[int(rng.integers(self.story_starts.size))])
        rest = np.asarray(self.tokens[s0 : s0 + self.T + 1 - head.size], dtype=np.int64)
        return np.concatenate((head, rest)), mask

    def get_with_answers(self, step: int, device: torch.device) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The batch (B, T+1) and, with drills, the answer mask of the drill rows (the last n_drill rows): (n_drill,
        T); None without drills."""
        rows = [np.asarray(self.tokens[s : s + self.T + 1], dtype=np.int64) for s in self.positions(step)]
        if self.n_repeat and not self.carry:
            rng = np.random.default_rng([self.seed, step, self.rank, 1])
            for r, story in enumerate(rng.integers(0, self.story_starts.size, size=self.n_repeat)):
                rows[r] = self.repeat_window(int(story))
        if self.n_lesson and not self.carry:  # the rows after the repeat rows
            rng = np.random.default_rng([self.seed, step, self.rank, 2])
            for r in range(self.n_repeat, self.n_repeat + self.n_lesson):
                rows[r] = self.lesson_window(rng)
        answers = None
        if self.n_drill:  # the last rows (all of them during a --drill-only-steps curriculum)
            rng = np.random.default_rng([self.seed, step, self.rank, 3])
            masks = []
            for r in range(self.B - self.drills_at(step), self.B):
                rows[r], mask = self.drill_window(rng)
                masks.append(mask)
            answers = torch.from_numpy(np.stack(masks)).to(device)
        return torch.from_numpy(np.stack(rows)).to(device, non_blocking=True), answers

    def drills_at(self, step: int) -> int:
        """Drill rows of the batch at `step`: all of them during the --drill-only-steps curriculum."""
        return self.B if self.n_drill and step < getattr(self, "drill_only_steps", 0) else self.n_drill

    def get(self, step: int, device: torch.device) -> torch.Tensor:
        return self.get_with_answers(step, device)[0]


def state_to(state, device):
    if state is None:
        return None
    return [{k: v.to(device) for k, v in layer.items()} for layer in state]


def save_atomic(obj: Any, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1
    if distributed:
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    else:
        device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    is_main = rank == 0

    meta = load_meta(args.data)
    train_tokens = load_tokens(args.data, "train")
    valid_tokens = load_tokens(args.data, "valid")
    valid_bytes = split_bytes(meta, "valid")
    config = load_config(args.config, meta, args.context)
    b = config.get("ttt", {}).get("miniBatch", 16)
    if args.context % b:
        raise ValueError(f"--context {args.context} must be a multiple of the TTT mini-batch {b}")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = BitTTTModel(config).to(device)
    if args.carry_state:
        model.empty_state(1)  # rejects "attn" layers early
    counts = count_parameters(model)
    decay, no_decay = [], []
    for m in model.modules():
        if isinstance(m, BitLinear):
            decay.append(m.weight)
    decay_ids = {id(p) for p in decay}
    for name, p in model.named_parameters():
        if name in ("tok_embed", "lm_head"):
            decay.append(p)
            decay_ids.add(id(p))
        elif id(p) not in decay_ids:
            no_decay.append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    log_path = os.path.join(args.out, "log.jsonl")
    start_step, tokens_seen, elapsed_before = 0, 0, 0.0
    carried = None
    if args.resume and os.path.exists(ckpt_path):
        ck = torch_load(ckpt_path, device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        start_step, tokens_seen, elapsed_before = ck["step"], ck["tokens_seen"], ck["elapsed"]
        carried = state_to(ck.get("carry_state"), device) if args.carry_state else None
        if is_main:
            print(f"resumed from {ckpt_path} at step {start_step}", flush=True)
    elif args.init_from:
        ck = torch_load(args.init_from, device)
        model.load_state_dict({k: v.float() for k, v in ck["model"].items()})
    elif is_main and os.path.exists(log_path):
        os.remove(log_path)

    bitlinear_product = "f32"
    if args.bf16 != "off":
        enabled, why = enable_bf16(model, device)
        if args.bf16 == "on" and not enabled:
            raise SystemExit(f"--bf16 on: {why}")
        bitlinear_product = "bf16 (exact)" if enabled else "f32"
        if is_main:
            print(f"BitLinear products: {why}", flush=True)
    train_model: torch.nn.Module = model
    compiled = False
    if args.compile:
        if hasattr(torch, "compile"):
            train_model, compiled = torch.compile(model), True
        elif is_main:
            print("--compile: this PyTorch has no torch.compile; running eagerly", flush=True)
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        ddp_ids = [device] if device.type == "cuda" else None
        train_model = DistributedDataParallel(train_model, device_ids=ddp_ids)

    lessons, lesson_sep = None, []
    if args.lesson_frac:
        with open(args.lessons or os.path.join(args.data, "lessons.json")) as fh:
            lesson_file = json.load(fh)
        lessons = [(l["facts"], l["qa"]) for l in lesson_file["lessons"]]
        lesson_sep = lesson_file.get("newline", [])
    batches = Batches(train_tokens, args.batch, args.context, args.seed, rank, world, args.carry_state,
                      args.carry_segments, args.repeat_frac, meta["eotId"], lessons, args.lesson_frac,
                      args.lesson_min_gap, lesson_sep, args.drill_frac, args.drill_pairs, args.drill_min_gap,
                      args.drill_pack, args.drill_only_steps, args.drill_pool)
    warmup = args.warmup if args.warmup >= 0 else max(1, round(0.02 * args.steps))
    hardware = hardware_name(device) + (f" × {world}" if distributed else "")
    log_fh = open(log_path, "a") if is_main else None

    def log(rec: Dict[str, Any]) -> None:
        if log_fh:
            log_fh.write(json.dumps(rec) + "\n")
            log_fh.flush()
            print(json.dumps(rec), flush=True)

    def checkpoint(step: int, elapsed: float, summary: Optional[Dict[str, Any]] = None) -> None:
        if not is_main:
            return
        save_atomic({
            "model": model.state_dict(), "optim": opt.state_dict(), "step": step, "config": model.config,
            "args": vars(args), "tokens_seen": tokens_seen, "elapsed": elapsed, "hardware": hardware,
            "carry_state": state_to(carried, "cpu"), "summary": summary or {}, "torch": torch.__version__,
        }, ckpt_path)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    swa_layers = [layer.attn for layer in model.layers if layer.kind == "swa"]
    if args.swa_windows and not swa_layers:
        raise SystemExit("--swa-windows: the model has no sliding-window layer")

    def set_window(step_: int) -> None:
        """The window of this step's sliding-window layers (config.window when --swa-windows is not given)."""
        if args.swa_windows:
            w = args.swa_windows[int(np.random.default_rng([args.seed, step_, 7]).integers(len(args.swa_windows)))]
            for attn in swa_layers:
                attn.window = w

    def restore_window() -> None:
        for attn in swa_layers:
            attn.window = model.config["window"]

    model.train()
    t0 = time.time()
    window_t, window_tokens, loss_acc, loss_n = time.time(), 0, torch.zeros((), device=device), 0
    drill_acc: List[torch.Tensor] = []
    step = start_step
    stopped_early = False
    probe_start, probe_step0 = None, 0
    while step < args.steps:
        stop_now = bool((args.time_limit and time.time() - t0 > args.time_limit)
                        or (args.stop_file and os.path.exists(args.stop_file)))
        if distributed and (args.time_limit or args.stop_file):  # every rank stops at the same step
            flag = torch.tensor([float(stop_now)])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop_now = bool(flag.item())
        if stop_now:
            stopped_early = True
            break
        if args.probe_seconds:
            if step - start_step == 3:
                sync()
                probe_start, probe_step0 = time.time(), step
            if probe_start is not None and time.time() - probe_start > args.probe_seconds:
                break
        lr, wd = schedule(step, args.steps, args.lr, warmup, args.wd)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.param_groups[0]["weight_decay"] = wd
        xy, answers = batches.get_with_answers(step, device)
        set_window(step)
        if args.carry_state:
            seg = step % args.carry_segments
            if seg == 0 or carried is None:
                carried = model.empty_state(args.batch, device)
            state_in = carried

        def forward_backward(m: torch.nn.Module):
            if args.carry_state:
                logits, state_out = m(xy[:, :-1], state=state_in, pos0=seg * args.context)
            else:
                (logits, _), state_out = m(xy[:, :-1]), None
            if answers is None:
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), xy[:, 1:].reshape(-1))
                total = loss
            else:  # the language-model loss of the story rows, plus the drills' mean answer loss as its own term
                n = batches.B - answers.shape[0]
                drill_logits = logits[n:][answers].float()
                drill = F.cross_entropy(drill_logits, xy[n:, 1:][answers])
                drill_acc.append(torch.stack([drill.detach(), (drill_logits.argmax(-1) == xy[n:, 1:][answers])
                                              .float().mean()]))
                if n:
                    loss = F.cross_entropy(logits[:n].reshape(-1, logits.shape[-1]).float(), xy[:n, 1:].reshape(-1))
                    total = loss + args.drill_weight * drill
                else:  # a drills-only step of the curriculum: no story rows, the drills' loss is the step's (logged)
                    loss = total = drill
            opt.zero_grad(set_to_none=True)
            total.backward()
            return loss, state_out

        if compiled and step == start_step:
            try:
                loss, carried_out = forward_backward(train_model)
            except Exception as err:  # a model torch.compile cannot handle here: eager mode, same numbers
                if is_main:
                    print(f"--compile failed at the first step ({type(err).__name__}: {str(err)[:300]}); "
                          "running eagerly", flush=True)
                train_model, compiled = (DistributedDataParallel(model, device_ids=ddp_ids) if distributed
                                         else model), False
                loss, carried_out = forward_backward(train_model)
        else:
            loss, carried_out = forward_backward(train_model)
        if args.carry_state:
            carried = carried_out
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        step += 1
        n_tok = args.batch * args.context * world
        tokens_seen += n_tok
        window_tokens += n_tok
        restore_window()
        loss_acc += loss.detach()
        loss_n += 1
        if step % args.log_every == 0 or step == args.steps:
            mean_loss = float(loss_acc) / loss_n
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"loss is {mean_loss} at step {step}")
            now = time.time()
            rec = {"step": step, "loss": round(mean_loss, 5), "lr": lr, "wd": wd, "tokens": tokens_seen,
                   "tok_per_s": round(window_tokens / max(1e-9, now - window_t)),
                   "elapsed": round(elapsed_before + now - t0, 2)}
            if drill_acc:  # drill answer loss and accuracy over the steps since the last line
                d = torch.stack(drill_acc).mean(0).tolist()
                rec.update({"drill_loss": round(d[0], 5), "drill_acc": round(d[1], 4)})
                drill_acc.clear()
            log(rec)
            window_t, window_tokens, loss_acc, loss_n = now, 0, torch.zeros((), device=device), 0
        if is_main and args.eval_every and step % args.eval_every == 0 and step < args.steps:
            ev = evaluate_bpb(model, valid_tokens, valid_bytes, args.context, args.eval_batch, device,
                              args.eval_tokens)
            log({"step": step, "valid_loss": round(ev["loss"], 5), "valid_bpb": round(ev["bpb"], 5),
                 "valid_tokens": ev["tokens"], "partial": ev["partial"]})
        if args.ckpt_every and step % args.ckpt_every == 0 and step < args.steps:
            checkpoint(step, elapsed_before + time.time() - t0)
    sync()
    train_seconds = time.time() - t0
    trained_steps = step - start_step

    if args.probe_seconds:
        rate = (step - probe_step0) / max(1e-9, time.time() - probe_start) if probe_start else 0.0
        result = {"steps_per_s": rate, "tokens_per_s": rate * args.batch * args.context * world,
                  "steps_measured": step - probe_step0, "params": counts}
        if is_main:
            with open(os.path.join(args.out, "probe.json"), "w") as fh:
                json.dump(result, fh)
            print(json.dumps({"probe": result}), flush=True)
        return result

    summary: Dict[str, Any] = {
        "config": model.config, "params": counts, "steps": step, "target_steps": args.steps,
        "stopped_by_time_limit": stopped_early, "tokens": tokens_seen,
        "train_seconds": round(elapsed_before + train_seconds, 2),
        "tokens_per_s": round(trained_steps * args.batch * args.context * world / max(1e-9, train_seconds)),
        "batch": args.batch, "context": args.context, "lr": args.lr, "warmup": warmup,
        "repeat_frac": args.repeat_frac, "carry_state": args.carry_state, "swa_windows": args.swa_windows,
        "lesson_frac": args.lesson_frac, "drill_frac": args.drill_frac, "drill_weight": args.drill_weight,
        "drill_pairs": args.drill_pairs, "drill_pack": args.drill_pack,
        "drill_only_steps": args.drill_only_steps, "drill_pool": args.drill_pool,
        "train_data": {k: meta["files"]["train"].get(k) for k in ("tokens", "stories", "sources", "dropped")},
        "state_bytes": {f"{m}T": decode_state_bytes(model.config, m * args.context) for m in (1, 2, 4)},
        "hardware": hardware, "torch": torch.__version__, "python": platform.python_version(),
        "bitlinear_product": bitlinear_product, "compiled": compiled,
    }
    summary_path = os.path.join(args.out, "summary.json")
    if is_main:
        checkpoint(step, elapsed_before + train_seconds, summary)
        with open(summary_path, "w") as fh:  # written before the final eval, so a killed eval loses only the bpb
            json.dump({**summary, "valid_bpb": None}, fh, indent=1)
        ev = evaluate_bpb(model, valid_tokens, valid_bytes, args.context, args.eval_batch, device,
                          args.final_eval_tokens or None)
        summary.update({"valid_loss": ev["loss"], "valid_bpb": ev["bpb"], "valid_tokens": ev["tokens"],
                        "valid_partial": ev["partial"]})
        log({"step": step, "valid_loss": round(ev["loss"], 5), "valid_bpb": round(ev["bpb"], 5),
             "valid_tokens": ev["tokens"], "partial": ev["partial"], "final": True})
        checkpoint(step, elapsed_before + train_seconds, summary)
        with open(summary_path, "w") as fh:
            json.dump(summary, fh, indent=1)
    if log_fh:
        log_fh.close()
    if distributed:
        import torch.distributed as dist

        dist.destroy_process_group()
    return summary


if __name__ == "__main__":
    main()
