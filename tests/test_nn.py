import re

import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from sknorm import NORMS
from sknorm.nn import ACTIVATIONS, MLP, FeatureScale, make_norm


def _block_layers(model):
    return [list(dict(block.named_children())) for block in model.hidden]


def test_structure_and_output_layer_has_no_norm():
    model = MLP(5, 3, (16, 8), norm="batch")
    assert len(model.hidden) == 2
    assert [b.linear.out_features for b in model.hidden] == [16, 8]
    assert all(isinstance(b.norm, nn.BatchNorm1d) for b in model.hidden)
    assert isinstance(model.output, nn.Linear)
    assert (model.output.in_features, model.output.out_features) == (8, 3)
    assert model(torch.randn(7, 5)).shape == (7, 3)


def test_no_hidden_layers_is_a_linear_model():
    model = MLP(4, 2, ())
    assert len(model.hidden) == 0
    assert model.output.in_features == 4


@pytest.mark.parametrize(
    "position, order",
    [
        ("before", ["linear", "norm", "activation", "dropout"]),
        ("after", ["linear", "activation", "norm", "dropout"]),
    ],
)
def test_norm_position(position, order):
    model = MLP(4, 2, (8, 8), norm="layer", norm_position=position)
    assert _block_layers(model) == [order, order]


@pytest.mark.parametrize(
    "norm, cls",
    [("none", nn.Identity), ("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)],
)
def test_norm_choice(norm, cls):
    model = MLP(4, 2, (8,), norm=norm)
    assert isinstance(model.hidden[0].norm, cls)


def test_norm_options_are_passed_through():
    bn = MLP(
        4, 2, (8,), norm="batch", norm_eps=1e-3, norm_momentum=0.01, norm_affine=False
    )
    layer = bn.hidden[0].norm
    assert (layer.eps, layer.momentum, layer.affine) == (1e-3, 0.01, False)
    ln = MLP(4, 2, (8,), norm="layer", norm_eps=1e-3, norm_affine=False).hidden[0].norm
    assert ln.eps == 1e-3 and not ln.elementwise_affine


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activations(activation):
    model = MLP(4, 2, (8,), activation=activation)
    assert isinstance(model.hidden[0].activation, ACTIVATIONS[activation])


def test_dropout():
    model = MLP(4, 2, (8,), dropout=0.3)
    assert model.hidden[0].dropout.p == 0.3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"norm": "weight"}, "Unknown norm"),
        ({"norm_position": "middle"}, "norm_position"),
        ({"activation": "swish2"}, "Unknown activation"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(4, 2, (8,), **kwargs)


def test_make_norm_unknown_name():
    with pytest.raises(ValueError, match="expected one of"):
        make_norm("weight", 4)
    assert set(NORMS) == {
        "none",
        "batch",
        "layer",
        "rms",
        "group",
        "ghost",
        "batch_renorm",
    }


def _pre_and_post_norm(model, X):
    """Return the input and output of the first block's norm layer."""
    seen = {}

    def hook(module, inputs, output):
        seen["in"], seen["out"] = inputs[0].detach(), output.detach()

    handle = model.hidden[0].norm.register_forward_hook(hook)
    model(X)
    handle.remove()
    return seen["in"], seen["out"]


def test_batch_norm_normalizes_each_feature_over_the_batch_in_training():
    torch.manual_seed(0)
    model = MLP(6, 2, (16,), norm="batch").train()
    X = torch.randn(64, 6) * 5 + 3
    pre, post = _pre_and_post_norm(model, X)
    assert_allclose(post.mean(0), 0, atol=1e-5)
    assert_allclose(post.var(0, unbiased=False), 1, atol=1e-3)
    # ... and that is the formula with the batch's own statistics.
    expected = (pre - pre.mean(0)) / torch.sqrt(pre.var(0, unbiased=False) + 1e-5)
    assert_allclose(post, expected, atol=1e-5)


def test_batch_norm_uses_running_statistics_in_eval():
    torch.manual_seed(0)
    model = MLP(6, 2, (16,), norm="batch", norm_momentum=0.1).train()
    bn = model.hidden[0].norm
    for _ in range(20):
        model(torch.randn(32, 6) * 2 + 1)
    model.eval()
    X = torch.randn(5, 6)
    pre, post = _pre_and_post_norm(model, X)
    expected = (pre - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    assert_allclose(post, expected, atol=1e-5)
    # Eval output of one row does not depend on the other rows of its batch.
    with torch.no_grad():
        assert_allclose(model(X[:1]), model(X)[:1], atol=1e-6)


def test_layer_norm_normalizes_each_sample_and_is_the_same_in_train_and_eval():
    torch.manual_seed(0)
    model = MLP(6, 2, (16,), norm="layer")
    X = torch.randn(8, 6) * 4 - 2
    pre, post = _pre_and_post_norm(model.train(), X)
    assert_allclose(post.mean(1), 0, atol=1e-5)
    assert_allclose(post.var(1, unbiased=False), 1, atol=1e-3)
    expected = (pre - pre.mean(1, keepdim=True)) / torch.sqrt(
        pre.var(1, unbiased=False, keepdim=True) + 1e-5
    )
    assert_allclose(post, expected, atol=1e-5)
    with torch.no_grad():
        train_out = model.train()(X)
        eval_out = model.eval()(X)
        single = model(X[:1])
    assert_allclose(train_out, eval_out)
    assert_allclose(single, eval_out[:1], atol=1e-6)


@pytest.mark.parametrize("norm_defaults", ["torch", "keras"])
def test_keras_defaults_initialize_as_keras_dense(norm_defaults):
    # Keras' Dense: Glorot-uniform kernel, zero bias; torch's Linear: Kaiming-
    # uniform (a=sqrt(5)), bound 1/sqrt(fan_in), and uniform biases.
    torch.manual_seed(0)
    model = MLP(50, 10, (200,), norm_defaults=norm_defaults)
    for layer in (model.hidden[0].linear, model.output):
        fan_out, fan_in = layer.weight.shape
        bound = (
            (6 / (fan_in + fan_out)) ** 0.5
            if norm_defaults == "keras"
            else fan_in**-0.5
        )
        largest = layer.weight.abs().max().item()
        assert 0.9 * bound < largest <= bound
        assert bool(layer.bias.any()) is (norm_defaults == "torch")


def test_no_input_embedding_keeps_the_plain_layout():
    model = MLP(4, 2, (8,))
    assert model.embedding is None
    assert not any(k.startswith("embedding") for k in model.state_dict())


def test_feature_scale_multiplies_each_feature_by_its_learned_factor():
    model = MLP(3, 2, (8,), input_embedding="scale")
    assert isinstance(model.embedding, FeatureScale)
    assert_allclose(model.embedding.weight.detach(), torch.ones(3))
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([2.0, -1.0, 0.5]))
    X = torch.randn(5, 3)
    expected = model.output(model.hidden(X * torch.tensor([2.0, -1.0, 0.5])))
    assert_allclose(model(X).detach(), expected.detach(), atol=1e-6)
    model(X).sum().backward()
    assert model.embedding.weight.grad is not None


@pytest.mark.parametrize("lite", [False, True])
def test_periodic_embedding_is_the_papers_plr(lite):
    # Gorishniy et al. (2022), section 3.3: for feature j with frequencies c_j
    # (k of them), v_j = [cos(2 pi c_j x_j), sin(2 pi c_j x_j)], then
    # PLR(x_j) = ReLU(W_j v_j + b_j) (one W_j per feature; shared when lite),
    # and the first block sees the concatenation over the features.
    n, k, d = 3, 5, 4
    params = {"n_frequencies": k, "d_embedding": d, "lite": lite}
    model = MLP(n, 2, (8,), input_embedding="periodic", embedding_params=params)
    assert model.hidden[0].linear.in_features == n * d
    periodic, linear = model.embedding[0].periodic, model.embedding[0].linear
    c = periodic.weight.detach()  # (n, k)
    X = torch.randn(6, n)
    expected = []
    for j in range(n):
        angle = 2 * torch.pi * c[j] * X[:, j : j + 1]  # (6, k)
        v = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)  # (6, 2k)
        if lite:
            W, b = linear.weight.detach().T, linear.bias.detach()
        else:
            W, b = linear.weight.detach()[j], linear.bias.detach()[j]
        expected.append(torch.relu(v @ W + b))
    assert_allclose(model.embedding(X).detach(), torch.cat(expected, dim=1), atol=1e-5)


def test_periodic_frequencies_start_at_the_papers_scale():
    # c ~ N(0, sigma^2), sigma = frequency_init_scale (truncated at 3 sigma).
    torch.manual_seed(0)
    model = MLP(
        200,
        2,
        (8,),
        input_embedding="periodic",
        embedding_params={"frequency_init_scale": 0.5},
    )
    c = model.embedding[0].periodic.weight.detach()
    assert c.shape == (200, 48)
    assert 0.45 < c.std().item() < 0.55 and c.abs().max().item() <= 1.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_embedding": "fourier"}, "Unknown input_embedding 'fourier'"),
        (
            {"input_embedding": "periodic", "embedding_params": {"k": 3}},
            r"Unknown embedding_params \['k'\]",
        ),
        *(
            (
                {"input_embedding": "periodic", "embedding_params": params},
                re.escape(f"embedding_params[{next(iter(params))!r}] must be"),
            )
            for params in (
                {"n_frequencies": 0},
                {"d_embedding": 0},
                {"d_embedding": 8.0},
                {"frequency_init_scale": -1.0},
                {"lite": "yes"},
            )
        ),
    ],
)
def test_bad_embedding_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(4, 2, (8,), **kwargs)


def test_keras_init_leaves_the_embedding_as_its_authors_initialize_it():
    torch.manual_seed(0)
    model = MLP(
        4,
        2,
        (8,),
        input_embedding="periodic",
        norm_defaults="keras",
        embedding_params={"lite": True},
    )
    assert bool(model.embedding[0].linear.bias.any())  # keras would zero it


def test_affine_clamp_needs_both_ends_and_its_fill_values_load():
    from sknorm.nn import Affine

    # low alone clamped to [low, 0.0]
    with pytest.raises(ValueError, match="give both, low <= high, or neither"):
        Affine([1.0, 1.0], [0.0, 0.0], low=-1.0)
    with pytest.raises(ValueError, match="low <= high"):
        Affine([1.0], [0.0], low=1.0, high=0.0)
    # a state with fill values loads into a fresh Affine, which then fills
    filled = Affine([1.0, 2.0], [0.0, 1.0])
    filled.set_fill([5.0, 6.0])
    fresh = Affine([1.0, 1.0], [0.0, 0.0])
    fresh.load_state_dict(filled.state_dict())
    x = torch.tensor([[float("nan"), 1.0]], dtype=torch.float64)
    assert_allclose(fresh(x), filled(x))
    assert_allclose(fresh(x), [[5.0, 3.0]])
