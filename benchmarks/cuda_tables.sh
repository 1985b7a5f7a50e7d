#!/usr/bin/env bash
# Every GPU table of docs/inference.md in one run, the cheapest first:
#
#   bash benchmarks/cuda_tables.sh [DIR] [SECONDS] [TABLES]   # defaults: results, 600, all
#
# Each stage gets the time left of SECONDS and writes its table to DIR when it ends, so a run cut
# short keeps the tables already made (compiling is what takes time: inductor compiles every model
# once per precision and task); TABLES (comma-separated names, e.g. speed_cuda_compiled.md) makes
# only those. The tables name the card, torch and CUDA in their headers.
# CSST_ZOO_SMOKE=1 runs the same stages on the CPU at toy sizes, to check the script itself. The
# packages a GPU image lacks: benchmarks/cuda_wheels.sh.
set -uo pipefail
dir=${1:-results}
end=$((SECONDS + ${2:-600}))
tables=${3:-}
mkdir -p "$dir"
if [[ -n ${CSST_ZOO_SMOKE:-} ]]; then
  device=cpu
  clip=(--batch 1 --frames 2 --size 32 --warmup 1 --rounds 1)
  loop=(--batch 1 --frames 2 --size 32 --steps 2 --epochs 1 --workers 0 --rounds 1)
  data=(--loader-workers 1 --loader-clips 4 --frames 2)
  collection=(--videos 40 --profile sthv1-jpeg-100p --workers 1 --batch 2 --frames 2 --reference-clips 4)
else
  device=cuda
  clip=(--batch 16)  # 16 clips of 8x224x224: the setting, and a batch that fills the card
  loop=(--batch 16 --workers 8)
  data=(--loader-workers 2,8 --loader-clips 200)
  collection=()  # issue 24's setting: 500 short WebM videos, 2 workers
fi
# the paper's families and the rivals on ResNet-50, and C2D of the other depths, each beside timm's
# ResNet of its depth (speed.py adds those rows and the C2D baseline of each depth)
families=csst_resnet50,tsm_resnet50,gst_resnet50,tam_resnet50,c3dg_resnet50,p3d_resnet50,c3d_resnet50
depths=c2d_resnet18,c2d_resnet34,c2d_resnet101
failed=0

stage() {  # stage TABLE COMMAND...: COMMAND -o DIR/TABLE, within the time left
  if [[ -n $tables && ",$tables," != *",$1,"* ]]; then return; fi
  local left=$((end - SECONDS))
  if ((left < 30)); then
    echo "== skipped, out of time: $1"; failed=1; return
  fi
  echo "== $1 (at most $left s)"
  if timeout "$left" "${@:2}" -o "$dir/$1"; then
    echo "== wrote $dir/$1 after $((SECONDS)) s"
  else
    echo "== FAILED or cut short (exit $?): $1"; failed=1
  fi
}

speed=(python benchmarks/speed.py --device "$device" "${clip[@]}")
stage train_speed_cuda.md "${speed[@]}" --task train --runtime bf16 --models "$families,$depths"
stage speed_cuda.md "${speed[@]}" --task infer --runtime bf16 --models "$families,$depths"
stage train_loop_cuda.md python benchmarks/train_loop.py "${loop[@]}"
stage train_speed_cuda_compiled.md "${speed[@]}" --task train --runtime compile_bf16 --models csst_resnet50
# the loaders that feed CSST-R50's bf16 training step (from the first table, when it was made) and
# `csst-zoo predict --amp --channels-last` on the same collections, its model on the GPU; JPEG frames
# also decoded by nvjpeg
rate=$(awk -F'|' '$2 ~ /^ csst_resnet50 $/ && $3 ~ /^ bf16 $/ {print $7 + 0; exit}' "$dir/train_speed_cuda.md" 2>/dev/null)
stage dataload_cuda.md python benchmarks/dataload.py --formats '' --predict-amp --predict-channels-last \
  --profiles sthv1-jpeg-100p,sthv2-webm-240p,kinetics-mp4-340p "${data[@]}" ${rate:+--step-rate "$rate"}
# `csst-zoo predict` over a folder of videos beside the loader's own rate, and its output through a
# corrupt file, a deleted one and a stop with --resume
stage predict_collection_cuda.md python benchmarks/predict_collection.py --amp --channels-last "${collection[@]}"
stage speed_cuda_compiled.md "${speed[@]}" --task infer --runtime compile_bf16 --models "$families"
exit $failed
