#!/usr/bin/env bash
# Benchmark-only Python environment for the PyTorch baselines (engines/dit/reference/bench_*.py,
# engines/vae/reference/bench_decode.py): a git-ignored venv in .cache/bench, pinned. Not part of CI.
#
#     scripts/setup-bench.sh            # then .cache/bench/bin/python engines/.../bench_*.py ...
#
# PyPI's only Linux x86-64 torch wheel is the CUDA build (539 MB; its libtorch_cuda.so links 12 CUDA
# libraries, so `import torch` fails without them, even on a machine with no GPU). Its declared
# dependencies add triton, cuda-bindings, cuSOLVER, NVTX and more (several GB). This installs the wheel
# with --no-deps and then only the libraries the shared objects load (cudart, cuBLAS, cuFFT, cuFile, CUPTI,
# cuSPARSE, nvJitLink, NVRTC, cuDNN, cuSPARSELt, NCCL, NVSHMEM) and the pure-Python dependencies:
# ≈ 4.1 GB on disk (torch 1.2 GB, the CUDA libraries 2.8 GB). Everything runs on the CPU in float32.
#
# The official Wan2.1 modules are not installed: the scripts import them from a checkout given at run time
# (--wan-repo DIR or WAN_REPO; see engines/dit/reference/wan_upstream.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.cache/bench"
TORCH=2.15.0
stamp="$venv/.bench-torch-$TORCH"
[[ -f $stamp ]] && { echo "setup-bench: $venv is ready (torch $TORCH)"; exit 0; }
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --no-deps "torch==$TORCH"
"${pip[@]}" \
    "cuda-toolkit[cublas,cudart,cufft,cufile,cupti,cusparse,nvjitlink,nvrtc]==13.2.2" \
    nvidia-cudnn-cu13==9.26.0.51 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 nvidia-nvshmem-cu13==3.7.2 \
    filelock==4.3.2 typing-extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0 networkx==3.6.1 jinja2==3.1.6 \
    MarkupSafe==3.0.4 fsspec==2026.9.0 numpy==2.4.6 safetensors==0.8.0 einops==0.8.2
"$venv/bin/python" -c "import torch; print('setup-bench: torch', torch.__version__, 'cpu', torch.backends.cpu.get_cpu_capability())"
touch "$stamp"
