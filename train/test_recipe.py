"""Tests of the training-recipe pieces: repeat windows in the batches, and the exact bf16 BitLinear product
(train/fastpath.py) checked on the CPU by emulating bf16 operands with f32 accumulation.
`cd train && /usr/bin/python3 -m unittest test_recipe -v`.
"""
import os
import sys
import unittest

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastpath import bf16_integer_product, disable_bf16, enable_bf16  # noqa: E402
from model import BitLinear, BitTTTModel  # noqa: E402
from test_model import lively, tiny_config  # noqa: E402
from train import Batches  # noqa: E402

torch.set_num_threads(2)


def f32_accumulate(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """What the GPU does with bf16 operands and an f32 accumulator: widen exactly, multiply-add in f32."""
    return a.float() @ b.float()


class Bf16Product(unittest.TestCase):
    def test_equals_the_exact_product_on_bitlinear_integers(self):
        g = torch.Generator().manual_seed(0)
        for k in (32, 256, 768, 3072):
            xq = torch.randint(-128, 128, (40, k), generator=g).float()
            xq[0], xq[1] = 127.0, -128.0  # the largest sums
            wq = torch.randint(-1, 2, (48, k), generator=g).float()
            wq[0] = 1.0
            got = bf16_integer_product(xq, wq, f32_accumulate)
            want = F.linear(xq.double(), wq.double())
            self.assertEqual(got.dtype, torch.float32)
            self.assertTrue(torch.equal(got.double(), want), f"k={k}")

    def test_bf16_holds_int8_but_not_wider_integers(self):
        ints = torch.arange(-128, 128, dtype=torch.float32)
        self.assertTrue(torch.equal(ints.to(torch.bfloat16).float(), ints))
        self.assertNotEqual(float(torch.tensor(257.0).to(torch.bfloat16).float()), 257.0)  # the check can fail

    def test_model_forward_and_gradients_are_unchanged(self):
        torch.manual_seed(0)
        model = lively(BitTTTModel(tiny_config(convKernel=4, shareQK=True, gate=True)))
        x = torch.randint(0, 299, (2, 32), generator=torch.Generator().manual_seed(1))

        def run():
            model.zero_grad(set_to_none=True)
            logits, _ = model(x)
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.roll(-1, 1).reshape(-1)).backward()
            return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

        ref_logits, ref_grads = run()
        try:
            ok, why = enable_bf16(model, torch.device("cpu"), mm=f32_accumulate)
            self.assertTrue(ok, why)
            self.assertIsNot(BitLinear.integer_product, F.linear)
            logits, grads = run()
        finally:
            disable_bf16()
        self.assertTrue(torch.equal(logits, ref_logits))
        self.assertEqual(set(grads), set(ref_grads))
        for name in grads:
            torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-5, atol=1e-7, msg=name)

    def test_not_enabled_on_the_cpu_without_an_emulation(self):
        model = BitTTTModel(tiny_config())
        ok, why = enable_bf16(model, torch.device("cpu"))
        self.assertFalse(ok)
        self.assertIn("CUDA", why)
        self.assertIs(BitLinear.integer_product, F.linear)


class RepeatWindows(unittest.TestCase):
    EOT = 99

    def stream(self):
        g = np.random.default_rng(0)
        out = []
        for _ in range(60):
            out.extend(g.integers(0, self.EOT, size=int(g.integers(5, 30))).tolist())
            out.append(self.EOT)
        return np.asarray(out, dtype=np.uint16)

    def test_layout_fraction_and_determinism(self):
        tokens = self.stream()
        T = 64
        b = Batches(tokens, 8, T, seed=3, rank=0, world=1, carry=False, carry_segments=8, repeat_frac=0.25,
                    eot_id=self.EOT)
        x = b.get(5, torch.device("cpu")).numpy()
        self.assertEqual(x.shape, (8, T + 1))
        self.assertTrue(np.array_equal(x, b.get(5, torch.device("cpu")).numpy()))  # resumable
        plain = Batches(tokens, 8, T, seed=3, rank=0, world=1, carry=False, carry_segments=8)
        y = plain.get(5, torch.device("cpu")).numpy()
        self.assertTrue(np.array_equal(x[2:], y[2:]))  # rows after the repeat ones are the plain windows
        for row in x[:2]:
            self.assertEqual(row[0], self.EOT)
            n = int(np.flatnonzero(row[1:] == self.EOT)[0])  # the first copy ends at the next eot
            story = row[1 : 1 + n]
            self.assertGreaterEqual(n, 2)
            self.assertTrue(np.array_equal(row[n + 2 : 2 * n + 2], story))
            self.assertEqual(row[2 * n + 2], self.EOT)
            # the copy is a real story of the stream, and the window continues with the stream after it
            s = int(np.flatnonzero([np.array_equal(tokens[i : i + n + 1], np.append(story, self.EOT))
                                    for i in range(tokens.size - n)])[0])
            tail = row[2 * n + 2 :]
            self.assertTrue(np.array_equal(tail, tokens[s + n : s + n + tail.size]))

    def test_long_stories_are_cut_to_fit_twice(self):
        tokens = np.asarray(([self.EOT] + list(range(1, 80))) * 4 + [self.EOT], dtype=np.uint16)
        b = Batches(tokens, 2, 32, seed=0, rank=0, world=1, carry=False, carry_segments=8, repeat_frac=1.0,
                    eot_id=self.EOT)
        row = b.get(0, torch.device("cpu")).numpy()[0]
        first = [self.EOT] + list(range(1, 16))
        self.assertEqual(row.tolist(), first + first + [self.EOT])  # cut to 15 tokens, then the story's eot


class LessonWindows(unittest.TestCase):
    EOT = 99

    def test_layout_gap_and_determinism(self):
        tokens = RepeatWindows().stream()
        T = 96
        facts = [[100, 101, 102], [110, 111]]  # ids above the stream's, so the pieces can be found in a row
        qa = [[200, 201, 202, 203], [210, 211, 212]]
        lessons = [(facts[0], qa[0]), (facts[1], qa[1]), (list(range(300, 380)), [400])]  # the last cannot fit
        b = Batches(tokens, 8, T, seed=4, rank=0, world=1, carry=False, carry_segments=8, repeat_frac=0.25,
                    eot_id=self.EOT, lessons=lessons, lesson_frac=0.5, lesson_min_gap=20, lesson_sep=[98])
        self.assertEqual(len(b.lessons), 2)
        x = b.get(7, torch.device("cpu")).numpy()
        self.assertTrue(np.array_equal(x, b.get(7, torch.device("cpu")).numpy()))  # resumable
        plain = Batches(tokens, 8, T, seed=4, rank=0, world=1, carry=False, carry_segments=8, repeat_frac=0.25,
                        eot_id=self.EOT)
        y = plain.get(7, torch.device("cpu")).numpy()
        self.assertTrue(np.array_equal(x[:2], y[:2]))  # the repeat rows come first, as without lessons
        self.assertTrue(np.array_equal(x[6:], y[6:]))  # then 4 lesson rows, then the plain windows
        for row in x[2:6]:
            self.assertEqual(row.size, T + 1)
            self.assertEqual(row[0], self.EOT)
            k = [i for i, (f, _) in enumerate(lessons[:2]) if row[1] == f[0]][0]
            f, q = np.asarray(facts[k]), np.asarray(qa[k])
            self.assertTrue(np.array_equal(row[1 : 1 + f.size], f))
            self.assertEqual(row[1 + f.size], 98)  # the separator, each side of the gap
            qstart = int(np.flatnonzero(row == q[0])[0])
            self.assertEqual(row[qstart - 1], 98)
            gap = row[2 + f.size : qstart - 1]
            self.assertGreaterEqual(gap.size, 20)
            self.assertTrue(np.all(gap <= self.EOT))  # story text between facts and questions
            self.assertTrue(np.array_equal(row[qstart : qstart + q.size], q))
            self.assertEqual(row[qstart + q.size], self.EOT)
            # the gap starts at a story's start
            starts = [i + 1 for i in range(tokens.size - 1) if tokens[i] == self.EOT]
            self.assertTrue(any(np.array_equal(tokens[s : s + gap.size], gap) for s in starts))


class DrillWindows(unittest.TestCase):
    EOT = 99

    def test_layout_answers_gap_and_determinism(self):
        tokens = RepeatWindows().stream()
        T = 96
        b = Batches(tokens, 8, T, seed=5, rank=0, world=1, carry=False, carry_segments=8, repeat_frac=0.25,
                    eot_id=self.EOT, drill_frac=0.25, drill_pairs=(3, 5), drill_min_gap=20)
        x, answers = b.get_with_answers(9, torch.device("cpu"))
        x, answers = x.numpy(), answers.numpy()
        again, answers2 = b.get_with_answers(9, torch.device("cpu"))
        self.assertTrue(np.array_equal(x, again.numpy()) and np.array_equal(answers, answers2.numpy()))  # resumable
        self.assertTrue(np.array_equal(x, b.get(9, torch.device("cpu")).numpy()))
        plain = Batches(tokens, 8, T, seed=5, rank=0, world=1, carry=False, carry_segments=8, repeat_frac=0.25,
                        eot_id=self.EOT)
        self.assertTrue(np.array_equal(x[:6], plain.get(9, torch.device("cpu")).numpy()[:6]))  # drills are the last
        self.assertEqual(answers.shape, (2, T))
        for row, mask in zip(x[6:], answers):
            self.assertEqual(row.size, T + 1)
            self.assertEqual(row[0], self.EOT)
            n = int(mask.sum())
            self.assertIn(n, (3, 5))
            pairs = row[1 : 1 + 2 * n].reshape(n, 2)
            keys, values = pairs[:, 0], pairs[:, 1]
            self.assertEqual(len(set(keys.tolist()) | set(values.tolist())), 2 * n)  # all distinct
            self.assertTrue(np.all(np.isin(pairs, b.drill_pool)) and not np.any(pairs == self.EOT))
            lookup = dict(zip(keys.tolist(), values.tolist()))
            where = np.flatnonzero(mask)
            for t in where:  # each answer position holds a question's key, and its target is that key's value
                self.assertEqual(lookup[int(row[t])], int(row[t + 1]))
                self.assertGreater(t - 2 * n, 20)  # the key is past the gap: farther than the window from its pair
            self.assertEqual(sorted(row[where].tolist()), sorted(keys.tolist()))  # every key asked once
            self.assertTrue(np.array_equal(where, where[0] + 2 * np.arange(n)))
            self.assertEqual(row[where[-1] + 2], self.EOT)
            gap = row[1 + 2 * n : where[0]]
            self.assertGreaterEqual(gap.size, 20)
            self.assertTrue(np.all(gap <= self.EOT))  # story text between pairs and questions

    def test_packed_drills_fill_the_row(self):
        tokens = RepeatWindows().stream()
        T = 160
        b = Batches(tokens, 4, T, seed=3, rank=0, world=1, carry=False, carry_segments=8, eot_id=self.EOT,
                    drill_frac=0.5, drill_pairs=(2, 4), drill_min_gap=10, drill_pack=True)
        x, answers = b.get_with_answers(4, torch.device("cpu"))
        x, answers = x.numpy(), answers.numpy()
        again, answers2 = b.get_with_answers(4, torch.device("cpu"))
        self.assertTrue(np.array_equal(x, again.numpy()) and np.array_equal(answers, answers2.numpy()))
        self.assertEqual(answers.shape, (2, T))
        for row, mask in zip(x[2:], answers):
            self.assertEqual(row.size, T + 1)
            where = np.flatnonzero(mask)
            self.assertGreaterEqual(where.size, 6)  # several drills: more answers than one drill of 4 holds
            # walk the drills: eot, N pairs, gap, N questions; each question's key is a pair of its own drill
            t, drills = 0, 0
            while t < where[-1]:
                self.assertEqual(row[t], self.EOT)
                first_q = int(where[where > t][0])
                # the drill's questions: consecutive answer slots two apart from first_q
                qs = [first_q]
                while qs[-1] + 2 in where and row[qs[-1] + 2] != self.EOT:
                    qs.append(qs[-1] + 2)
                n = len(qs)
                self.assertIn(n, (2, 4))
                pairs = row[t + 1 : t + 1 + 2 * n].reshape(n, 2)
                lookup = dict(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist()))
                self.assertEqual(len(set(pairs.reshape(-1).tolist())), 2 * n)
                gap = first_q - (t + 1 + 2 * n)
                self.assertTrue(10 <= gap <= 20, gap)
                for q in qs:
                    self.assertEqual(lookup[int(row[q])], int(row[q + 1]))
                self.assertEqual(sorted(row[qs].tolist()), sorted(lookup))
                t = qs[-1] + 2
                drills += 1
            self.assertEqual(row[t], self.EOT)  # the last drill's closing eot
            self.assertGreaterEqual(drills, 2)
            self.assertLessEqual(T + 1 - t, 1 + 4 * 4 + 20 + 1)  # no room was left for another drill of the longest

    def test_drill_only_curriculum(self):
        tokens = RepeatWindows().stream()
        kw = dict(seed=3, rank=0, world=1, carry=False, carry_segments=8, eot_id=self.EOT, repeat_frac=0.25,
                  drill_frac=0.25, drill_pairs=(2, 4), drill_min_gap=10, drill_pack=True)
        b = Batches(tokens, 8, 160, drill_only_steps=5, **kw)
        plain = Batches(tokens, 8, 160, **kw)
        for step in (0, 4):  # the curriculum: every row a drill
            x, answers = b.get_with_answers(step, torch.device("cpu"))
            self.assertEqual(answers.shape, (8, 160))
            self.assertTrue(bool(answers.any(1).all()))
            self.assertTrue(bool((x[:, 0] == self.EOT).all()))
        for step in (5, 9):  # after it: as without the curriculum
            x, answers = b.get_with_answers(step, torch.device("cpu"))
            x2, answers2 = plain.get_with_answers(step, torch.device("cpu"))
            self.assertTrue(torch.equal(x, x2) and torch.equal(answers, answers2))
            self.assertEqual(answers.shape, (2, 160))

    def test_pool_is_common_tokens_without_eot(self):
        tokens = RepeatWindows().stream()
        b = Batches(tokens, 4, 96, seed=0, rank=0, world=1, carry=False, carry_segments=8, eot_id=self.EOT,
                    drill_frac=0.25, drill_pairs=(4,), drill_min_gap=20)
        counts = np.bincount(tokens.astype(np.int64), minlength=100)
        self.assertNotIn(self.EOT, b.drill_pool.tolist())
        self.assertTrue(np.all(counts[b.drill_pool] > 0))
        ranked = [int(i) for i in np.argsort(-np.where(np.arange(100) == self.EOT, 0, counts), kind="stable")]
        self.assertEqual(b.drill_pool.tolist()[:5], ranked[16:21])  # the 16 commonest are left out
        small = Batches(tokens, 4, 96, seed=0, rank=0, world=1, carry=False, carry_segments=8, eot_id=self.EOT,
                        drill_frac=0.25, drill_pairs=(4,), drill_min_gap=20, drill_pool=10)
        self.assertEqual(small.drill_pool.tolist(), ranked[16:26])


class WarmStart(unittest.TestCase):
    def test_latent_weights_quantise_back_with_the_exact_scale(self):
        from warm_start import latent_from_codes

        # as in a real file: codes and scale from latent weights (a scale that no sum of this many f32 values
        # can give back need not be reachable, e.g. for 91 entries the means are spaced wider than an ulp)
        g = torch.Generator().manual_seed(1)
        for shape, spread in (((48, 40), 0.02), ((64, 96), 0.05), ((7, 13), 0.01), ((256, 256), 0.02)):
            w0 = torch.randn(shape, generator=g) * spread
            scale = float(w0.abs().mean())
            codes = torch.clamp(torch.round(w0 / scale), -1, 1).numpy().astype(np.int8)
            w = latent_from_codes(codes, scale)
            self.assertEqual(float(w.abs().mean()), scale)
            self.assertTrue(torch.equal(torch.clamp(torch.round(w / w.abs().mean()), -1, 1),
                                        torch.from_numpy(codes.astype(np.float32))))

    def test_a_shipped_file_becomes_a_trainable_model_with_its_logits(self):
        from export import model_from_bttt
        from warm_start import warm_start

        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for name in ("tiny-ttt", "tiny-kv"):
            path = os.path.join(repo, "public", "models", f"{name}.bttt")
            ck = warm_start(path)
            latent = BitTTTModel(ck["config"])
            latent.load_state_dict(ck["model"])
            self.assertTrue(all(m.frozen is None for m in latent.modules() if isinstance(m, BitLinear)))
            x = torch.randint(0, ck["config"]["vocabSize"], (2, 32), generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                a, _ = latent.eval()(x)
                b, _ = model_from_bttt(path)(x)
            self.assertTrue(torch.equal(a, b), name)  # the same ternary values and bit-equal scales: same graph
