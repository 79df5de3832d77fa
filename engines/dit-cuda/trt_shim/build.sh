#!/usr/bin/env bash
# Builds libworldflow_trt_shim.so from worldflow_trt_shim.cpp against TensorRT 10 (headers + libnvinfer)
# and the CUDA runtime headers. Finds them under $TENSORRT_ROOT and $CUDA_HOME (include/, lib/ or
# lib64/), else in the system paths (/usr/include, /usr/include/x86_64-linux-gnu, /usr/local/cuda).
# Usage: bash build.sh [OUT_DIR]   (default: this folder). Then: export WORLDFLOW_TRT_SHIM=OUT_DIR/libworldflow_trt_shim.so
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out_dir="${1:-$here}"
mkdir -p "$out_dir"
cxx="${CXX:-g++}"
inc=() libdirs=() searched=()
for root in "${TENSORRT_ROOT:-}" "${CUDA_HOME:-}" /usr/local/cuda /usr /usr/local; do
    [[ -n $root && -d $root ]] || continue
    for d in "$root/include" "$root/include/x86_64-linux-gnu" "$root/targets/x86_64-linux/include"; do
        [[ -d $d ]] || continue
        searched+=("$d")
        # The compiler's default directories stay implicit (naming them breaks #include_next).
        case $d in /usr/include | /usr/include/x86_64-linux-gnu | /usr/local/include) ;; *) inc+=("-isystem" "$d") ;; esac
    done
    for d in "$root/lib" "$root/lib64" "$root/lib/x86_64-linux-gnu" "$root/targets/x86_64-linux/lib"; do
        [[ -d $d ]] && libdirs+=("-L$d" "-Wl,-rpath,$d")
    done
done
have_header() {
    local h=$1
    for dir in "${searched[@]}"; do [[ -f $dir/$h ]] && return 0; done
    return 1
}
if ! have_header NvInferRuntime.h; then
    echo "build.sh: NvInferRuntime.h not found: set TENSORRT_ROOT to a TensorRT 10 install (its include/ and lib/)" >&2
    exit 2
fi
if ! have_header cuda_runtime_api.h; then
    echo "build.sh: cuda_runtime_api.h not found: set CUDA_HOME to a CUDA toolkit (or add its include/ via TENSORRT_ROOT)" >&2
    exit 2
fi
link=(-lnvinfer)
if [[ ${WF_TRT_SHIM_COMPILE_ONLY:-0} == 1 ]]; then
    # Compile check without libnvinfer (headers only): the object is built, nothing is linked.
    "$cxx" -std=c++17 -O2 -fPIC -Wall -Wextra "${inc[@]}" -c "$here/worldflow_trt_shim.cpp" -o "$out_dir/worldflow_trt_shim.o"
    echo "build.sh: compiled $out_dir/worldflow_trt_shim.o (compile only)"
    exit 0
fi
"$cxx" -std=c++17 -O2 -fPIC -shared -Wall -Wextra "${inc[@]}" "$here/worldflow_trt_shim.cpp" \
    -o "$out_dir/libworldflow_trt_shim.so" "${libdirs[@]}" "${link[@]}" -Wl,--no-undefined -Wl,--as-needed
echo "build.sh: built $out_dir/libworldflow_trt_shim.so"
