#!/usr/bin/env bash
# V and M on a GPU box: the training-throughput benchmark, then stages 02-04 on a folder of Doom
# episodes, once in float32 and once in mixed_bfloat16, each stage timed. Needs no TensorFlow under
# KERAS_BACKEND=jax (or torch); the episodes come from stage 01 on any machine.
#
#   KERAS_BACKEND=jax bash bench/gpu_stages.sh data/doom/rollouts /tmp/gpu-check rnn.epochs=5
#
# Writes into the output folder: throughput-<precision>.txt, stages-<precision>.log (each stage's
# output and wall seconds) and results-<precision>/ (the stages' histories, figures and weights).
# Extra arguments are config overrides for all three stages. THROUGHPUT=0 skips the benchmark.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash bench/gpu_stages.sh ROLLOUTS_DIR OUT_DIR [config overrides...]" >&2
    exit 2
fi
ROLLOUTS=$(cd "$1" && pwd)
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
shift 2
PY=${PY:-python3}
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
BACKEND=${KERAS_BACKEND:-jax}
echo "backend $BACKEND; $(nproc) CPUs; $(ls "$ROLLOUTS" | grep -c '^ep_') episodes in $ROLLOUTS"
command -v nvidia-smi >/dev/null && nvidia-smi -L || true

for prec in float32 mixed_bfloat16; do
    [ "${THROUGHPUT:-1}" = 0 ] && break
    $PY bench/train_throughput.py --backends "$BACKEND" --precision "$prec" --rnn-batch 100 --seq-len 500 \
        --vae-steps "${VAE_STEPS:-100}" --rnn-steps "${RNN_STEPS:-20}" | tee "$OUT/throughput-$prec.txt"
done

for prec in float32 mixed_bfloat16; do
    log="$OUT/stages-$prec.log"
    : > "$log"
    for stage in 02_train_vae.py 03_generate_rnn_data.py 04_train_rnn.py; do
        t0=$(date +%s%N)
        $PY "$stage" --config doom data.rollouts_dir="$ROLLOUTS" data_root="$OUT/data" results_root="$OUT" \
            name="results-$prec" vae.precision="$prec" rnn.precision="$prec" "$@" 2>&1 | tee -a "$log"
        t1=$(date +%s%N)
        echo "[gpu_stages] $stage $prec: $(( (t1 - t0) / 1000000 )) ms wall" | tee -a "$log"
    done
done
