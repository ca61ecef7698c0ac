"""Parameter counts, FLOP accounting, causality and masking."""

import numpy as np
import pytest
import torch

from plm_scaling.data import vocab
from plm_scaling.model.sizes import (
    LADDER_TARGETS,
    exact_non_embedding,
    flops_per_token,
    formula_n,
    ladder,
    shape_for,
)
from plm_scaling.model.transformer import IGNORE, ModelShape, ProteinLM
from plm_scaling.training.data import mask_tokens


@pytest.mark.parametrize("target", [5e3, 2e4, 3e5, 3e6])
def test_parameter_count_matches_the_formula(target):
    shape = shape_for(target, context=64)
    counts = ProteinLM(shape, causal=True).count_parameters()
    assert counts["non_embedding"] == exact_non_embedding(shape)
    # 12·L·d² is exact for the weights; LayerNorms add 2·d per norm.
    assert counts["non_embedding"] - formula_n(shape) == 2 * shape.d_model * (2 * shape.n_layers + 1)
    assert counts["total"] == counts["non_embedding"] + 33 * shape.d_model  # tied: one embedding table
    assert 0.6 < formula_n(shape) / target < 1.5


def test_ladder_spans_cpu_tiny_to_gpu_scale():
    sizes = {name: formula_n(s) for name, s in ladder(1024).items()}
    assert min(sizes.values()) < 8e3 and max(sizes.values()) >= 1e8
    assert list(sizes) == list(LADDER_TARGETS)
    assert all(a < b for a, b in zip(list(sizes.values()), list(sizes.values())[1:]))


def test_models_narrower_than_8_reach_down_to_216_parameters_and_train():
    """Budgets of 1e9-1e10 FLOPs need sizes on both sides of an optimum below 816 (issue 25, item 4): d_model 4,
    one head, 1-3 layers. They exist only below the narrowest d = 8 model, so no larger size changes shape."""
    below = {t: shape_for(t, context=128) for t in (200, 424, 600)}
    assert [exact_non_embedding(s) for s in below.values()] == [216, 424, 632]
    assert all(s.d_model == 4 and s.n_heads == 1 for s in below.values())
    assert exact_non_embedding(shape_for(700, context=128)) == 816  # nearer the one-layer d = 8 model
    assert (shape_for(1128, context=128).n_layers, shape_for(1128, context=128).d_model) == (1, 8)
    with pytest.raises(ValueError, match="below the smallest model"):
        shape_for(150, context=128)
    model = ProteinLM(below[200], causal=True)
    assert model.count_parameters()["non_embedding"] == 216
    loss = torch.nn.functional.cross_entropy(model(torch.randint(4, 29, (2, 16))).flatten(0, 1), torch.zeros(32).long())
    loss.backward()
    assert torch.isfinite(loss)


def test_flop_accounting_matches_the_flops_torch_counts():
    """6·N (+ the tied output layer) is what a forward and backward pass multiplies, per token, as torch's FLOP
    counter measures it; the full count adds attention scores, which the counter sees only on some SDPA paths."""
    from torch.utils.flop_counter import FlopCounterMode

    shape = ModelShape(n_layers=2, d_model=32, n_heads=4, context=128)
    f = flops_per_token(shape, exact_non_embedding(shape))
    tokens = torch.randint(4, 29, (2, 128))
    with FlopCounterMode(display=False) as counter:
        ProteinLM(shape, causal=False)(tokens).sum().backward()
    measured = counter.get_total_flops() / tokens.numel()
    weights = f["paper"] + 6 * shape.d_model * shape.vocab_size
    assert measured == pytest.approx(weights, rel=0.02) or measured == pytest.approx(f["full"], rel=0.02)


def test_clm_is_causal_and_mlm_is_not():
    torch.manual_seed(0)
    shape = ModelShape(n_layers=2, d_model=32, n_heads=4, context=16)
    tokens = torch.randint(4, 29, (2, 16))
    changed = tokens.clone()
    changed[:, 10:] = torch.randint(4, 29, (2, 6))
    clm, mlm = ProteinLM(shape, causal=True).eval(), ProteinLM(shape, causal=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(clm(tokens)[:, :10], clm(changed)[:, :10])  # the past ignores the future
        assert not torch.allclose(clm(tokens)[:, 10:], clm(changed)[:, 10:])
        assert not torch.allclose(mlm(tokens)[:, :10], mlm(changed)[:, :10])  # bidirectional


def test_context_is_enforced():
    model = ProteinLM(ModelShape(n_layers=1, d_model=16, n_heads=2, context=8), causal=True)
    with pytest.raises(ValueError, match="exceeds the model context 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_mlm_masking_statistics():
    rng = np.random.default_rng(0)
    window = np.full(10_000, vocab.INDEX["A"], dtype=np.uint8)
    window[::100] = vocab.CLS  # framing tokens are never masked
    inputs, targets = mask_tokens(window, rng, 0.15)
    chosen = targets != IGNORE
    residues = (window != vocab.CLS).sum()
    assert chosen.sum() == round(0.15 * residues)
    assert not chosen[::100].any()
    masked = (inputs[chosen] == vocab.MASK).mean()
    kept = (inputs[chosen] == vocab.INDEX["A"]).mean()
    assert abs(masked - 0.8) < 0.03
    assert abs(kept - 0.1 - 0.1 / 25) < 0.03  # 10% kept, plus random replacements that drew 'A'
    assert np.all(np.isin(inputs[chosen], np.append(vocab.RESIDUE_IDS, vocab.MASK)))
