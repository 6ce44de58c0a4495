"""`fusion=linear` for the XMC models: the neural scores fused with `linear`'s, the weight chosen
on the validation split, saved and loaded with the run (tiny models on a Reuters-21578 slice)."""

import json
import os

import numpy as np
import pytest

import textzoo
from textzoo.models.linear import Linear
from textzoo.xmc.fusion import GRID

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SETTINGS = {
    "lightxml": dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3, feature_layers=2,
                     hidden_dim=16, swa=False),
    "xtransformer": dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=3e-3, tfidf_min_df=1,
                         ranker_max_iter=200, cluster_size=20, beam_size=4),
}


@pytest.mark.parametrize("name", ["lightxml", "xtransformer"])
def test_fusion_with_linear_is_chosen_on_validation_and_saved(name, reuters, reuters_bert_dir, tmp_path):
    train, valid, test = reuters.train.head(200), reuters.valid.head(60), reuters.test.head(40)
    model = textzoo.create(name, pretrained=str(reuters_bert_dir), fusion="linear", **SETTINGS[name])
    model.fit(train, valid, labels=reuters.labels)
    fusion = model.info["fusion"]
    w = fusion["weight"]
    assert w in GRID and set(fusion["valid"]) == set(float(g) for g in GRID)
    assert fusion["valid"][w] == max(fusion["valid"].values()) >= max(fusion["valid"][0.0], fusion["valid"][1.0])
    # the answer is w * neural + (1 - w) * linear, with linear trained on the same split
    linear = Linear().fit(train, valid, labels=reuters.labels)
    neural = model.unfused_proba(test.texts)
    fused = model.predict_proba(test.texts)
    np.testing.assert_allclose(fused, w * neural + (1 - w) * linear.predict_proba(test.texts), atol=1e-6)
    # the tiny random encoder knows little, TF-IDF much more: the fusion leans on linear here
    assert w < 1.0 and fusion["valid"][w] > fusion["valid"][1.0]
    run = model.save(tmp_path / "run")
    assert (run / "fusion.json").is_file()
    assert json.loads((run / "config.json").read_text())["config"]["fusion"] == "linear"
    again = textzoo.load(run)
    np.testing.assert_allclose(again.predict_proba(test.texts), fused, atol=1e-6)
    assert again.evaluate(test) == model.evaluate(test)


def test_the_default_is_the_paper_model_alone(reuters, reuters_bert_dir, tmp_path):
    model = textzoo.create("lightxml", pretrained=str(reuters_bert_dir), **SETTINGS["lightxml"])
    assert model.config.fusion == "none"
    model.fit(reuters.train.head(40), labels=reuters.labels)
    assert "fusion" not in model.info
    run = model.save(tmp_path / "run")
    assert not (run / "fusion.json").exists()
    from safetensors.torch import load_file

    assert not any(k.startswith("fusion.") for k in load_file(str(run / "model.safetensors")))
