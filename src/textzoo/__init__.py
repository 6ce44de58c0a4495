"""textzoo: classic text-classification models, faithful to their papers and easy to run.

    import textzoo
    corpus = textzoo.load_dataset("R8")
    model = textzoo.create("textgcn", hidden=200)
    model.fit(corpus)                       # or model.fit(corpus.train, valid=corpus.valid)
    print(model.evaluate(corpus.test))
    model.save("runs/x"); textzoo.load("runs/x").predict(["new text"])
    textzoo.train("textgcn", corpus, out="runs/r8")   # = `textzoo train`: metrics.json and plots too
"""

__version__ = "0.1.0"

from .data import Corpus, Split, list_datasets, load_dataset  # noqa: E402
from .errors import ConfigError, DataError, DownloadError, ModelFileError, TextzooError  # noqa: E402
from .models.registry import available_models, create  # noqa: E402


def load(path, **runtime):
    """Load a saved run folder as a model of the class it was saved from (``runtime``: runtime
    settings such as ``device="cpu"``, see :mod:`textzoo.runtime`)."""
    from .models.base import Model

    return Model.load(path, **runtime)


def train(model, corpus, out=None, **options):
    """Train, evaluate and save a run as ``textzoo train`` does: :func:`textzoo.runs.train`."""
    from .runs import train as train_run

    return train_run(model, corpus, out, **options)


__all__ = [
    "Corpus", "Split", "load_dataset", "list_datasets", "create", "load", "train", "available_models",
    "TextzooError", "DataError", "ConfigError", "DownloadError", "ModelFileError", "__version__",
]
