"""Pieces shared by the extreme multi-label (XMC) models ``xtransformer`` and ``lightxml``.

* :mod:`.labels`   label matrices and label representations (PIFA over TF-IDF or neural document
  embeddings, embeddings of label text);
* :mod:`.indexer`  semantic label indexing: balanced hierarchical spherical 2-means;
* :mod:`.tfidf`    the TF-IDF document features, saved as JSON + tensors (no pickle);
* :mod:`.ranker`   cluster-restricted one-vs-rest linear rankers (X-Transformer's ranker);
* :mod:`.ensemble` ensembles by score averaging.
"""

from .ensemble import Ensemble, average_scores, ensemble_evaluate
from .indexer import ClusterIndex, balanced_hierarchical_kmeans
from .labels import label_matrix, label_text_embeddings, pifa

__all__ = ["ClusterIndex", "balanced_hierarchical_kmeans", "label_matrix", "pifa", "label_text_embeddings",
           "Ensemble", "average_scores", "ensemble_evaluate"]
