"""The XMC models honour the Transformer settings their configs accept (``grad_accum``, ``autocast``)
and refuse, in one line, those they do not use (``restore_best``, ``best_by``): none is ignored."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import textzoo
from textzoo.errors import ConfigError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# no dropout anywhere: two updates over the same 16 documents are then the same computation with
# one batch of 8 or two micro-batches of 4 (the loss is a mean over documents), up to rounding
EXACT = dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3, dropout=0.0,
             backbone_dropout=0.0, group_by_length=False)


def _training_batch_sizes(model, train, labels) -> set[int]:
    """``model.fit(train)``, and the batch sizes its encoder's forward passes saw in training mode."""
    sizes = set()

    def record(module, args, kwargs):
        if module.training and type(module).__name__ == "BertModel":
            sizes.add(int(kwargs["input_ids"].shape[0]))

    original = model._setup_network

    def setup():  # the real set-up, then a hook on the encoder it built

        device = original()
        model.net.backbone.register_forward_pre_hook(record, with_kwargs=True)
        return device

    model._setup_network = setup
    model.fit(train, labels=labels)
    return sizes


def _lightxml(reuters, bert_dir, **settings):
    model = textzoo.create("lightxml", pretrained=str(bert_dir), feature_layers=2, hidden_dim=16, swa=False,
                           **EXACT, **settings)
    sizes = _training_batch_sizes(model, reuters.train.head(16), reuters.labels)
    assert sizes == {8 // settings.get("grad_accum", 1)}
    return model.predict_proba(reuters.test.texts[:4])


def test_lightxml_grad_accum_and_autocast_are_honoured(reuters, reuters_bert_dir):
    whole = _lightxml(reuters, reuters_bert_dir)
    accumulated = _lightxml(reuters, reuters_bert_dir, grad_accum=2)
    np.testing.assert_allclose(accumulated, whole, atol=2e-5)
    bf16 = _lightxml(reuters, reuters_bert_dir, autocast="bf16")
    assert np.isfinite(bf16).all() and not np.array_equal(bf16, whole)  # bf16 rounding: the forward ran in it
    np.testing.assert_allclose(bf16, whole, atol=0.05)


def test_xtransformer_matcher_honours_grad_accum(reuters, reuters_bert_dir):
    nets = []
    for accum in (1, 2):
        model = textzoo.create("xtransformer", pretrained=str(reuters_bert_dir), cluster_size=20, beam_size=4,
                               tfidf_min_df=1, ranker_max_iter=50, grad_accum=accum, **EXACT)
        assert _training_batch_sizes(model, reuters.train.head(16), reuters.labels) == {8 // accum}
        nets.append(model.net.state_dict())
    for key, value in nets[0].items():
        torch.testing.assert_close(nets[1][key], value, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("model", ["lightxml", "xtransformer"])
@pytest.mark.parametrize("setting", [{"restore_best": True}, {"best_by": "val_acc"}])
def test_xmc_models_refuse_the_settings_they_do_not_use(model, setting):
    with pytest.raises(ConfigError, match="restore_best and best_by are not used by " + model) as err:
        textzoo.create(model, **setting)
    assert "\n" not in str(err.value)
