"""Unit tests of the recall study's own code: `cd train && /usr/bin/python3 -m unittest test_study_recall`.

- the chunked (WY) gated delta rule equals the token-by-token recurrence (also with a chunk that does not divide T);
- a hand-checked 2-token case of the recurrence;
- the MQAR batches put the answer after each query key and label only those positions.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from study_recall import (GatedDeltaMixer, SEQ, build_model, delta_rule_chunked, delta_rule_recurrent,  # noqa: E402
                          mqar_batch)

torch.set_num_threads(1)


def random_inputs(B=2, H=2, T=37, f=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, f, generator=g, dtype=torch.float64)
    k = torch.nn.functional.normalize(torch.randn(B, H, T, f, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(B, H, T, f, generator=g, dtype=torch.float64)
    log_alpha = -torch.rand(B, H, T, generator=g, dtype=torch.float64) * 2  # α in (e^-2, 1]
    beta = torch.rand(B, H, T, generator=g, dtype=torch.float64)
    return q, k, v, log_alpha, beta


class DeltaRuleTest(unittest.TestCase):
    def test_chunked_equals_recurrent(self):
        q, k, v, g, beta = random_inputs()
        o_rec, s_rec = delta_rule_recurrent(q, k, v, g, beta)
        for chunk in (1, 4, 16):  # 37 tokens: padded last chunk for 4 and 16
            o_chk, s_chk = delta_rule_chunked(q, k, v, g, beta, chunk)
            self.assertLess((o_chk - o_rec).abs().max().item(), 1e-10, f"chunk {chunk}")
            if 37 % chunk == 0:
                self.assertLess((s_chk - s_rec).abs().max().item(), 1e-10)

    def test_gradients_agree(self):
        q, k, v, g, beta = (x.requires_grad_() for x in random_inputs(T=20, seed=1))
        grads = []
        for fn in (lambda: delta_rule_recurrent(q, k, v, g, beta), lambda: delta_rule_chunked(q, k, v, g, beta, 8)):
            o, _ = fn()
            grads.append(torch.autograd.grad((o * torch.arange(o.numel(), dtype=o.dtype).view_as(o).sin()).sum(),
                                             (q, k, v, g, beta)))
        for a, b in zip(*grads):
            self.assertLess((a - b).abs().max().item(), 1e-9)

    def test_hand_checked_two_tokens(self):
        # f = 2, k1 = e1, v1 = (1, 2), β1 = 1, α1 = 1 → S1 = e1ᵀ v1 = [[1, 2], [0, 0]];
        # k2 = e1, v2 = (3, 0), β2 = 0.5, α2 = 0.5 → S2 = 0.5 (S1 − 0.5 e1ᵀ(e1 S1)) + 0.5 e1ᵀ v2 = [[1.75, 0.5], [0, 0]]
        k = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)[None, None]
        v = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=torch.float64)[None, None]
        q = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)[None, None]
        g = torch.tensor([[0.0, torch.log(torch.tensor(0.5)).item()]], dtype=torch.float64)[None]
        beta = torch.tensor([[1.0, 0.5]], dtype=torch.float64)[None]
        for o, S in (delta_rule_recurrent(q, k, v, g, beta), delta_rule_chunked(q, k, v, g, beta, 2)):
            self.assertTrue(torch.allclose(S[0, 0], torch.tensor([[1.75, 0.5], [0.0, 0.0]], dtype=torch.float64)))
            self.assertTrue(torch.allclose(o[0, 0], torch.tensor([[1.0, 2.0], [1.75, 0.5]], dtype=torch.float64)))

    def test_mixer_chunked_equals_recurrent(self):
        torch.manual_seed(0)
        model = build_model("delta", "float").double()
        mixer = model.layers[0].attn
        self.assertIsInstance(mixer, GatedDeltaMixer)
        xn = torch.randn(2, 40, 64, dtype=torch.float64)
        a, _ = mixer(xn, 0, None)
        b, _ = mixer(xn, 0, None, recurrent=True)
        self.assertLess((a - b).abs().max().item(), 1e-9)


class MqarTest(unittest.TestCase):
    def test_queries_and_labels(self):
        gen = torch.Generator().manual_seed(0)
        for n, gap in ((8, 0), (64, 0), (64, 16)):
            tokens, labels, dist = mqar_batch(gen, 4, n, gap)
            self.assertEqual(tokens.shape, (4, SEQ))
            for r in range(4):
                pairs = {int(tokens[r, 2 * i]): int(tokens[r, 2 * i + 1]) for i in range(n)}
                self.assertEqual(len(pairs), n)  # distinct keys
                where = (labels[r] >= 0).nonzero().flatten()
                self.assertEqual(len(where), min(n, (SEQ - 2 * n - gap) // 2))
                for p in where.tolist():
                    key = int(tokens[r, p])
                    self.assertEqual(pairs[key], int(labels[r, p]))
                    self.assertEqual(int(tokens[r, p + 1]), int(labels[r, p]))
                    self.assertEqual(int(tokens[r, p - dist[r, p]]), key)
                    self.assertGreater(int(dist[r, p]), gap)


if __name__ == "__main__":
    unittest.main()
