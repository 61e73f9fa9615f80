import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from sknorm.nn import (
    MLP,
    BatchRenorm1d,
    GhostBatchNorm1d,
    KerasBatchNorm1d,
    make_norm,
)


def _x(n=32, c=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g) * 3 + 2


@pytest.mark.parametrize(
    "name, cls",
    [
        ("none", nn.Identity),
        ("batch", nn.BatchNorm1d),
        ("layer", nn.LayerNorm),
        ("rms", nn.RMSNorm),
        ("group", nn.GroupNorm),
        ("ghost", GhostBatchNorm1d),
        ("batch_renorm", BatchRenorm1d),
    ],
)
def test_make_norm_builds_the_named_layer(name, cls):
    layer = make_norm(name, 8, groups=4)
    assert type(layer) is cls
    assert layer(_x(c=8)).shape == (32, 8)


def test_rms_norm_formula():
    x = _x()
    out = make_norm("rms", 6, eps=1e-6)(x).detach()
    assert_allclose(out, x / torch.sqrt((x**2).mean(1, keepdim=True) + 1e-6), atol=1e-5)


def test_group_norm_normalizes_each_group_of_units():
    x = _x(c=8)
    out = make_norm("group", 8, groups=2)(x).detach()
    for group in (out[:, :4], out[:, 4:]):
        assert_allclose(group.mean(1), 0, atol=1e-5)
        assert_allclose(group.var(1, unbiased=False), 1, atol=1e-3)


def test_group_norm_width_must_divide():
    with pytest.raises(ValueError, match=r"groups=3 groups .* width of 8"):
        make_norm("group", 8, groups=3)


def test_ghost_batch_norm_uses_virtual_batches_in_training():
    x = _x(n=16)
    gbn = GhostBatchNorm1d(6, virtual_batch_size=8, affine=False).train()
    out = gbn(x).detach()
    for chunk in (out[:8], out[8:]):  # each virtual batch normalized on its own
        assert_allclose(chunk.mean(0), 0, atol=1e-5)
        assert_allclose(chunk.var(0, unbiased=False), 1, atol=1e-3)
    # Two running-statistics updates, one per virtual batch.
    assert int(gbn.num_batches_tracked) == 2
    # ... unlike batch norm over the whole batch.
    whole = nn.BatchNorm1d(6, affine=False)(x).detach()
    assert (out - whole).abs().max() > 1e-3
    # Eval mode is plain batch norm with the running statistics.
    gbn.eval()
    expected = (x - gbn.running_mean) / torch.sqrt(gbn.running_var + gbn.eps)
    assert_allclose(gbn(x).detach(), expected, atol=1e-5)


@pytest.mark.parametrize(
    "n, sizes", [(5, [5]), (9, [5, 4]), (17, [5, 4, 4, 4]), (3, [3])]
)
def test_ghost_batch_norm_never_has_a_virtual_batch_of_one(n, sizes):
    gbn = GhostBatchNorm1d(3, virtual_batch_size=4).train()
    seen = []
    original = nn.BatchNorm1d.forward

    def spy(self, x):
        seen.append(x.shape[0])
        return original(self, x)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nn.BatchNorm1d, "forward", spy)
        gbn(_x(n=n, c=3))
    assert seen == sizes


def test_batch_renorm_equals_batch_norm_when_r_is_1_and_d_is_0():
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(6)
    brn = BatchRenorm1d(6, rmax=1.0, dmax=0.0)
    brn.load_state_dict(bn.state_dict())
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
        brn.weight.copy_(bn.weight)
        brn.bias.copy_(bn.bias)
    for seed in range(5):
        x = _x(seed=seed)
        assert_allclose(brn(x).detach(), bn(x).detach(), atol=1e-5)
    assert_allclose(brn.running_mean, bn.running_mean, atol=1e-5)
    assert_allclose(brn.running_var, bn.running_var, atol=1e-5)
    bn.eval(), brn.eval()
    assert_allclose(brn(_x(seed=9)).detach(), bn(_x(seed=9)).detach(), atol=1e-5)


def test_batch_renorm_follows_the_paper_equations():
    brn = BatchRenorm1d(6, eps=1e-5, momentum=0.1, rmax=1.5, dmax=0.5, warmup_steps=0)
    with torch.no_grad():
        brn.running_mean.fill_(1.0)
        brn.running_var.fill_(4.0)
        brn.weight.fill_(2.0)
        brn.bias.fill_(0.5)
    x = _x()
    mu_b, var_b = x.mean(0), x.var(0, unbiased=False)
    sigma_b = torch.sqrt(var_b + 1e-5)
    sigma = torch.sqrt(torch.tensor(4.0) + 1e-5)
    r = (sigma_b / sigma).clamp(1 / 1.5, 1.5)
    d = ((mu_b - 1.0) / sigma).clamp(-0.5, 0.5)
    expected = 2.0 * ((x - mu_b) / sigma_b * r + d) + 0.5
    assert (r == 1.5).any() or (r == 1 / 1.5).any()  # the clipping is exercised
    assert (d.abs() == 0.5).any()
    assert_allclose(brn(x).detach(), expected, atol=1e-5)
    # Running statistics move towards the batch's, as batch norm's do.
    assert_allclose(brn.running_mean, 0.9 * 1.0 + 0.1 * mu_b, atol=1e-5)
    assert_allclose(
        brn.running_var, 0.9 * 4.0 + 0.1 * x.var(0, unbiased=True), atol=1e-4
    )


def test_batch_renorm_corrections_carry_no_gradient():
    brn = BatchRenorm1d(6, rmax=3.0, dmax=5.0, warmup_steps=0, affine=False)
    x = _x().requires_grad_()
    brn(x).sum().backward()
    # With r and d constants, d(sum y)/dx is batch norm's gradient scaled by r:
    # the sum over a normalized column has zero gradient.
    assert_allclose(x.grad, 0, atol=1e-4)


def test_batch_renorm_warmup_relaxes_the_limits():
    brn = BatchRenorm1d(3, rmax=3.0, dmax=5.0, warmup_steps=10)
    assert brn._limits() == (1.0, 0.0)
    brn.num_batches_tracked.fill_(5)
    assert brn._limits() == (2.0, 2.5)
    brn.num_batches_tracked.fill_(50)
    assert brn._limits() == (3.0, 5.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rmax": 0.5}, "rmax >= 1"),
        ({"dmax": -1.0}, "dmax >= 0"),
    ],
)
def test_batch_renorm_bad_limits(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchRenorm1d(3, **kwargs)


def test_group_count_is_any_positive_integer_and_defaults_are_named():
    # a grid over np.arange gives numpy ints; True is no group count
    assert make_norm("group", 8, groups=np.int64(2)).num_groups == 2
    with pytest.raises(ValueError, match="groups must be a positive int, got True"):
        make_norm("group", 8, groups=True)
    # an unknown convention: a ValueError naming the known ones, not KeyError
    with pytest.raises(ValueError, match=r"Unknown norm defaults 'tf'.*'keras'"):
        make_norm("layer", 8, convention="tf")
    with pytest.raises(ValueError, match=r"Unknown norm defaults 'tf'"):
        MLP(3, 2, (), norm_defaults="tf")  # no hidden layer to build a norm


def test_ghost_virtual_batch_size_must_be_at_least_2():
    with pytest.raises(ValueError, match="virtual_batch_size"):
        GhostBatchNorm1d(3, virtual_batch_size=1)


def test_keras_batch_norm_running_variance_is_the_biased_batch_variance():
    # Keras: moving_var = momentum_k * moving_var + (1 - momentum_k) * var_biased,
    # with momentum_k = 0.99, i.e. torch's momentum 0.01; torch would average
    # the unbiased variances (n / (n - 1) larger).
    torch.manual_seed(0)
    keras = make_norm("batch", 4, convention="keras").train()
    plain = make_norm("batch", 4, momentum=0.01, eps=1e-3).train()
    assert isinstance(keras, KerasBatchNorm1d) and type(plain) is torch.nn.BatchNorm1d
    mean, var = torch.zeros(4), torch.ones(4)
    for n in (2, 5, 32):
        x = torch.randn(n, 4) * 3 + 1
        out_keras, out_plain = keras(x), plain(x)
        # The same normalization of the batch itself ...
        assert_allclose(out_keras.detach(), out_plain.detach(), atol=1e-6)
        mean = 0.99 * mean + 0.01 * x.mean(0)
        var = 0.99 * var + 0.01 * x.var(0, unbiased=False)
    # ... and Keras' running statistics, not torch's.
    assert_allclose(keras.running_mean, mean, rtol=1e-6)
    assert_allclose(keras.running_var, var, rtol=1e-6)
    assert not np.allclose(plain.running_var, var, rtol=1e-4)


@pytest.mark.parametrize("norm", ["ghost", "batch_renorm"])
def test_keras_convention_reaches_every_batch_norm(norm):
    x = torch.randn(8, 3)
    keras = make_norm(norm, 3, convention="keras", virtual_batch_size=8).train()
    keras(x)
    assert keras.biased_running_var
    expected = 0.99 * torch.ones(3) + 0.01 * x.var(0, unbiased=False)
    assert_allclose(keras.running_var, expected, rtol=1e-5)
