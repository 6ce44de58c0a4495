"""The golden test of ELMo weight loading: our biLM reproduces the TensorFlow biLM's activations.

Fixture and protocol: ``$TEXTZOO_DATA/elmo-fixture/README.md`` (AllenNLP's test fixture: a tiny biLM in
the original release format and the activations the original TensorFlow biLM computed for it).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")

from textzoo.models.elmo_bilm import char_ids, load_release, token_char_ids  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread is far faster for these tiny LSTMs
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fixture_dir(data_dir):
    path = data_dir / "elmo-fixture"
    assert (path / "options.json").exists(), f"ELMo fixture not found at {path}"
    return path


def test_top_layer_matches_tensorflow_activations(fixture_dir):
    """Batch i = [sentences[0][i], sentences[1][i], sentences[2][i]], states carried per row."""
    bilm = load_release(fixture_dir, stateful=True)
    sentences = json.loads((fixture_dir / "sentences.json").read_text())
    expected = [h5py.File(fixture_dir / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    worst, compared = 0.0, 0
    with torch.no_grad():
        for i in range(10):
            batch = [sentences[k][i].split(" ") for k in range(3)]
            layers, mask = bilm(char_ids(batch))
            assert len(layers) == 3 and all(h.shape[-1] == 32 for h in layers)
            for k, tokens in enumerate(batch):
                assert int(mask[k].sum()) == len(tokens) + 2
                got = layers[-1][k, 1:len(tokens) + 1].numpy()
                want = expected[k][str(i)][...]
                want = np.concatenate([want[0], want[1]], axis=-1)
                assert got.shape == want.shape
                worst = max(worst, float(np.abs(got - want).max()))
                compared += 1
    for f in expected:
        f.close()
    assert compared == 30
    assert worst < 1e-5, f"largest deviation from the TensorFlow activations: {worst:.3g}"


def test_stateless_mode_differs_after_the_first_batch(fixture_dir):
    """Carrying states matters: without them, batch 1 does not reproduce the golden activations."""
    sentences = json.loads((fixture_dir / "sentences.json").read_text())
    stateful, stateless = load_release(fixture_dir, stateful=True), load_release(fixture_dir)
    with torch.no_grad():
        batches = [char_ids([sentences[k][i].split(" ") for k in range(3)]) for i in range(2)]
        a0, b0 = stateful(batches[0])[0][-1], stateless(batches[0])[0][-1]
        a1, b1 = stateful(batches[1])[0][-1], stateless(batches[1])[0][-1]
    assert torch.allclose(a0, b0)
    assert not torch.allclose(a1, b1, atol=1e-4)


def test_char_cnn_matches_released_token_embeddings(fixture_dir):
    """elmo_token_embeddings.hdf5 holds the TF char CNN's output for each word of vocab_test.txt."""
    bilm = load_release(fixture_dir)
    words = (fixture_dir / "vocab_test.txt").read_text(encoding="utf-8").split("\n")
    with h5py.File(fixture_dir / "elmo_token_embeddings.hdf5", "r") as f:
        table = f["embedding"][...]
    assert len(words) == table.shape[0]
    with torch.no_grad():
        ours = bilm.char_cnn(torch.tensor([token_char_ids(w) for w in words])).numpy()
    assert np.abs(ours - table).max() < 1e-5
