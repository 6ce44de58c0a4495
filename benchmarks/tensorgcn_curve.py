"""Diagnostic: TensorGCN's per-epoch training and validation figures on MR (seed 0) without early
stopping, to see where the validation accuracy peaks and when the model overfits.

    python benchmarks/tensorgcn_curve.py 0.02 virtual 30     # lr, inter_graph, epochs

Writes benchmarks/out/diag_curve_<inter_graph>_<lr>.json (history and the final test accuracy).
"""

import json
import sys

import torch

import textzoo

if __name__ == "__main__":
    torch.set_num_threads(1)
    lr, variant, epochs = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    corpus = textzoo.load_dataset("mr", seed=0)
    model = textzoo.create("tensorgcn", dataset="mr", seed=0, lr=lr, inter_graph=variant,
                           stopping_rule="none", epochs=epochs)
    model.fit(corpus)
    out = {"lr": lr, "variant": variant, "test_acc_last": model.evaluate(corpus.test)["accuracy"],
           "history": model.history}
    with open(f"benchmarks/out/diag_curve_{variant}_{lr}.json", "w") as f:
        json.dump(out, f)
