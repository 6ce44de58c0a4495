"""ELMo biLM pieces: character ids, ScalarMix, clipping, residual, masking, the release-format writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")

from textzoo.models.elmo_bilm import (BiLM, BiLMOptions, LSTMWithProjection, ScalarMix,  # noqa: E402
                                      bidirectional_layer, char_ids, load_release, release_arrays,
                                      save_release, token_char_ids)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread is far faster for these tiny LSTMs
    yield
    torch.set_num_threads(threads)


def tiny_options(**kw) -> BiLMOptions:
    base = dict(dim=12, projection_dim=6, n_layers=2, cell_clip=3.0, proj_clip=3.0, use_skip_connections=True,
                char_dim=4, filters=[[1, 4], [2, 6]], n_highway=1, activation="relu")
    base.update(kw)
    return BiLMOptions(**base)


def test_token_char_ids_follow_the_release_scheme():
    ids = token_char_ids("abc")
    assert len(ids) == 50
    assert ids[:6] == [259, 98, 99, 100, 260, 261] and set(ids[5:]) == {261}
    assert token_char_ids("<S>")[:4] == [259, 257, 260, 261]
    assert token_char_ids("</S>")[:4] == [259, 258, 260, 261]
    assert token_char_ids("é")[:4] == [259, 0xC3 + 1, 0xA9 + 1, 260]
    long = token_char_ids("x" * 80)
    assert long[0] == 259 and long[1:49] == [ord("x") + 1] * 48 and long[49] == 260
    batch = char_ids([["a", "b"], ["c"]])
    assert batch.shape == (2, 4, 50)
    assert batch[0, 0].tolist() == token_char_ids("<S>") and batch[0, 3].tolist() == token_char_ids("</S>")
    assert batch[1, 2].tolist() == token_char_ids("</S>") and int(batch[1, 3].abs().sum()) == 0


def test_scalar_mix_is_gamma_times_softmax_weighted_sum():
    mix = ScalarMix(3, initial=[0.0, 1.0, 2.0], gamma=0.5)
    layers = [torch.randn(2, 4, 5) for _ in range(3)]
    w = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    want = 0.5 * (w[0] * layers[0] + w[1] * layers[1] + w[2] * layers[2])
    assert torch.allclose(mix(layers), want, atol=1e-6)
    mix(layers).sum().backward()
    assert mix.s.grad is not None and mix.gamma.grad is not None
    normed = ScalarMix(3, layer_norm=True)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    out = normed([torch.randn(2, 4, 5) * 10 + 3 for _ in range(3)], mask)
    assert out.shape == (2, 4, 5) and float(out.detach()[~mask].abs().sum()) == 0.0


def test_cell_and_projection_clipping():
    torch.manual_seed(0)
    bilm = BiLM(tiny_options(cell_clip=0.5, proj_clip=0.25), stateful=True)
    with torch.no_grad():
        for p in bilm.parameters():
            p.mul_(50.0)
        layers, _ = bilm(char_ids([["a", "big", "test"], ["b"]]))
    assert float(layers[1].abs().max()) <= 0.25 + 1e-6
    assert float(layers[1].abs().max()) > 0.2            # the clip is reached
    for c, h in bilm._states:
        assert float(c.abs().max()) <= 0.5 + 1e-6 and float(h.abs().max()) <= 0.25 + 1e-6


def test_residual_connection_adds_the_first_layer_to_the_second():
    torch.manual_seed(0)
    with_skip = BiLM(tiny_options())
    without = BiLM(tiny_options(use_skip_connections=False))
    without.load_state_dict(with_skip.state_dict())
    ids = char_ids([["the", "cat", "sat"], ["a", "dog"]])
    with torch.no_grad():
        a, mask = with_skip(ids)
        b, _ = without(ids)
    assert len(a) == 3 and all(h.shape == (2, 5, 12) for h in a)
    assert torch.equal(a[0][..., :6], a[0][..., 6:])          # layer 0 duplicated
    assert torch.allclose(a[1], b[1])
    assert torch.allclose(a[2], b[2] + a[1], atol=1e-6)


def test_padding_does_not_change_a_row():
    torch.manual_seed(0)
    bilm = BiLM(tiny_options()).eval()
    with torch.no_grad():
        alone, _ = bilm(char_ids([["a", "dog"]]))
        batched, mask = bilm(char_ids([["the", "cat", "sat", "down"], ["a", "dog"]]))
    assert mask[1].tolist() == [True] * 4 + [False] * 2
    for x, y in zip(alone, batched):
        assert torch.allclose(x[0], y[1, :4], atol=1e-6)
        assert float(y[1, 4:].abs().sum()) == 0.0


def test_release_writer_round_trip_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    bilm = BiLM(tiny_options(activation="tanh"))
    save_release(bilm, tmp_path / "m")
    options = json.loads((tmp_path / "m" / "options.json").read_text())
    assert options["lstm"]["projection_dim"] == 6 and options["char_cnn"]["activation"] == "tanh"
    back = load_release(tmp_path / "m")
    for (name, a), (_, b) in zip(bilm.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name
    ids = char_ids([["round", "trip"]])
    with torch.no_grad():
        assert all(torch.equal(x, y) for x, y in zip(bilm.eval()(ids)[0], back(ids)[0]))
    with h5py.File(tmp_path / "m" / "weights.hdf5", "r") as f:
        assert f["CNN/W_cnn_1"].shape == (1, 2, 4, 6)
        assert f["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0"].shape == (12, 48)


def test_fixture_resaved_reads_back_identically(data_dir, tmp_path):
    src = data_dir / "elmo-fixture"
    bilm = load_release(src)
    save_release(bilm, tmp_path / "copy")
    with h5py.File(src / "lm_weights.hdf5", "r") as a, h5py.File(tmp_path / "copy" / "weights.hdf5", "r") as b:
        for name in release_arrays(bilm):
            assert np.array_equal(a[name][...], b[name][...]), name


def test_fused_bidirectional_layer_equals_the_two_directions_run_apart():
    """The biLM's fast path gives the outputs, final states and gradients of the per-direction cells."""
    torch.manual_seed(0)
    fwd, bwd = (LSTMWithProjection(5, 8, 3, cell_clip=1.0, proj_clip=0.5) for _ in range(2))
    with torch.no_grad():
        for p in [*fwd.parameters(), *bwd.parameters()]:
            p.normal_(0, 0.8)  # large enough for the clips to act
    x_f, x_b = torch.randn(3, 6, 5, requires_grad=True), torch.randn(3, 6, 5, requires_grad=True)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], dtype=torch.bool)
    s_f = (torch.randn(3, 8), torch.randn(3, 3))
    s_b = (torch.randn(3, 8), torch.randn(3, 3))
    out_f, (c_f, h_f) = fwd(x_f, mask, s_f)
    out_b, (c_b, h_b) = bwd(x_b, mask, s_b, reverse=True)
    fused = bidirectional_layer(fwd, bwd, x_f, x_b, mask, s_f, s_b)
    for a, b in zip((out_f, out_b, c_f, h_f, c_b, h_b), (fused[0], fused[1], *fused[2], *fused[3])):
        assert torch.allclose(a, b, atol=1e-6)
    assert float(out_f.detach().abs().max()) == pytest.approx(0.5)  # the projection clip was reached
    weights = torch.randn(2, 3, 6, 3)
    grads = torch.autograd.grad((out_f * weights[0]).sum() + (out_b * weights[1]).sum(),
                                [x_f, x_b, fwd.W, bwd.W_P])
    fused_grads = torch.autograd.grad((fused[0] * weights[0]).sum() + (fused[1] * weights[1]).sum(),
                                      [x_f, x_b, fwd.W, bwd.W_P])
    for a, b in zip(grads, fused_grads):
        assert torch.allclose(a, b, atol=1e-5)
