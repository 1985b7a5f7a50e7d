#!/usr/bin/env bash
# The wheels benchmarks/cuda_tables.sh needs on the GPU machine beyond its image (which has torch,
# torchvision, an older timm, onnx, matplotlib, tabulate, portalocker): the versions installed
# here of timm, fvcore, iopath, yacs, termcolor and av, for the machine's Python (3.12), into DIR:
#
#   bash benchmarks/cuda_wheels.sh [DIR]     # default: .whl (git-ignored)
#
# They travel with the working tree (`carry: [".whl"]`) and are installed there with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
dir=${1:-.whl}
python=${CUDA_PYTHON:-3.12}  # the GPU image's python3
version() { python3 -c "import importlib.metadata as m; print(m.version('$1'))"; }
mkdir -p "$dir"
# binary wheels for that Python and manylinux, whatever this machine's Python is
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dir" \
  "timm==$(version timm)" "av==$(version av)" "yacs==$(version yacs)" "termcolor==$(version termcolor)"
# fvcore and iopath are source-only on PyPI: pure-Python wheels built here
python3 -m pip wheel -q --no-deps -w "$dir" "fvcore==$(version fvcore)" "iopath==$(version iopath)"
du -sh "$dir"  # the working tree travels in at most 64 MiB
