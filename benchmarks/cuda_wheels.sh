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
pins=()
for name in timm av yacs termcolor fvcore iopath; do
  if ! v=$(python3 -c "import importlib.metadata as m; print(m.version('$name'))" 2> /dev/null); then
    echo "cuda_wheels.sh: $name is not installed for $(command -v python3); run this where pip install -e '.[test]' went" >&2
    exit 1
  fi
  pins+=("$name==$v")
done
mkdir -p "$dir"
# binary wheels for that Python and manylinux, whatever this machine's Python is
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dir" \
  "${pins[@]:0:4}"
# fvcore and iopath are source-only on PyPI: pure-Python wheels built here
python3 -m pip wheel -q --no-deps -w "$dir" "${pins[@]:4}"
du -sh "$dir"  # the working tree travels in at most 64 MiB
