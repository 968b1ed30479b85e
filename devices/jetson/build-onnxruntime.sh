#!/usr/bin/env bash
# Builds onnxruntime with the TensorRT and CUDA execution providers, and its Node binding
# (onnxruntime-node) with the Spectra Edge provider-options patch, on a Jetson (JetPack 5 or 6).
#
# Why: the npm onnxruntime-node carries only the CPU provider on arm64 and there are no official aarch64 GPU
# builds; and even a GPU build of the stock binding reads nothing but `deviceId` for TensorRT (onnxruntime
# issue #26854: no fp16, no int8, no engine cache, so engines are rebuilt at every start).
# patches/0001-forward-provider-options.patch closes that gap.
#
# Run it on the Jetson itself (or in the L4T container from ./Dockerfile, which calls it). Takes 1.5-4 h on an
# Orin; an 8 GB board needs JOBS=2 (nvcc and the TensorRT EP easily take 2 GB per job) and swap.
#
# Environment (all optional):
#   ORT_REF        onnxruntime git tag or commit   (default: v<version of the repo's npm onnxruntime-node>)
#   CUDA_ARCH      CMAKE_CUDA_ARCHITECTURES         (default: detected: 87 Orin (tegra234), 72 Xavier (tegra194))
#   PREFIX         install prefix                   (default: /opt/spectra/ort)
#   SRC_DIR        onnxruntime checkout             (default: $PREFIX/src/onnxruntime)
#   JOBS           parallel compile jobs            (default: 2 on boards with < 12 GB RAM, else nproc)
#   CUDA_HOME      (default /usr/local/cuda)   TENSORRT_HOME / CUDNN_HOME (default /usr/lib/aarch64-linux-gnu)
#
# Result: $PREFIX/node_modules/onnxruntime-node, marked in its package.json as forwarding provider options
# ("spectraEdge": {"honoursProviderOptions": ["tensorrt", "cuda"]}, read by the SDK's loadBinding). Point the SDK
# at it with SPECTRA_ORT_BINDING=$PREFIX/node_modules/onnxruntime-node or the profile's "binding" field.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

die() { echo "build-onnxruntime: $*" >&2; exit 1; }
step() { echo; echo "== build-onnxruntime: $* ($(date -u +%H:%M:%S))"; }

[ "$(uname -m)" = aarch64 ] || die "this recipe targets Jetson (aarch64); uname -m says $(uname -m)"

default_ref() {
  node -p "'v' + require('$repo/node_modules/onnxruntime-node/package.json').version" 2>/dev/null || echo v1.22.0
}
detect_arch() {
  local compat
  compat="$(tr '\0' ' ' < /proc/device-tree/compatible 2>/dev/null || true)"
  case "$compat" in
    *tegra234*) echo 87 ;;   # Orin (AGX, NX, Nano)
    *tegra194*) echo 72 ;;   # Xavier (AGX, NX)
    *) die "cannot detect the Jetson SoC from /proc/device-tree/compatible ('$compat'); set CUDA_ARCH (87 Orin, 72 Xavier)" ;;
  esac
}

ORT_REF="${ORT_REF:-$(default_ref)}"
CUDA_ARCH="${CUDA_ARCH:-$(detect_arch)}"
PREFIX="${PREFIX:-/opt/spectra/ort}"
SRC_DIR="${SRC_DIR:-$PREFIX/src/onnxruntime}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
TENSORRT_HOME="${TENSORRT_HOME:-/usr/lib/aarch64-linux-gnu}"
CUDNN_HOME="${CUDNN_HOME:-/usr/lib/aarch64-linux-gnu}"
mem_gb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 1024 ))
JOBS="${JOBS:-$([ "$mem_gb" -lt 12 ] && echo 2 || nproc)}"

step "checking the toolchain (ORT $ORT_REF, sm_$CUDA_ARCH, $JOBS jobs, ${mem_gb} GB RAM)"
[ -x "$CUDA_HOME/bin/nvcc" ] || die "no nvcc at $CUDA_HOME/bin/nvcc; install JetPack's CUDA (apt-get install nvidia-jetpack) or set CUDA_HOME"
ls "$TENSORRT_HOME"/libnvinfer.so* >/dev/null 2>&1 || die "no libnvinfer in $TENSORRT_HOME; install TensorRT (nvidia-tensorrt-dev) or set TENSORRT_HOME"
command -v node >/dev/null || die "Node.js 20 is required to build the binding"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js >= 20 required, found $(node --version)"
cmake_ok=$(cmake --version 2>/dev/null | awk 'NR==1 { split($3, v, "."); print (v[1] > 3 || (v[1] == 3 && v[2] >= 28)) ? 1 : 0 }')
if [ "${cmake_ok:-0}" != 1 ]; then
  step "installing cmake >= 3.28 with pip (onnxruntime needs it; JetPack's is older)"
  python3 -m pip install --user 'cmake>=3.28'
  export PATH="$HOME/.local/bin:$PATH"
fi
export PATH="$CUDA_HOME/bin:$PATH"

step "fetching onnxruntime $ORT_REF into $SRC_DIR"
if [ ! -d "$SRC_DIR/.git" ]; then
  mkdir -p "$(dirname "$SRC_DIR")"
  git clone --filter=blob:none https://github.com/microsoft/onnxruntime.git "$SRC_DIR"
fi
git -C "$SRC_DIR" fetch --tags --quiet origin
git -C "$SRC_DIR" checkout --quiet --force "$ORT_REF"
git -C "$SRC_DIR" submodule update --init --recursive --quiet

step "applying the provider-options patch"
cp "$here/native/provider_options_forward.h" "$SRC_DIR/js/node/src/provider_options_forward.h"
if git -C "$SRC_DIR" apply --reverse --check "$here/patches/0001-forward-provider-options.patch" 2>/dev/null; then
  echo "already applied"
elif ! git -C "$SRC_DIR" apply --check "$here/patches/0001-forward-provider-options.patch"; then
  die "the patch does not apply to onnxruntime $ORT_REF: rebase its two hunks (the include block before ParseExecutionProviders, and the cuda/tensorrt branches inside it) onto js/node/src/session_options_helper.cc"
else
  git -C "$SRC_DIR" apply "$here/patches/0001-forward-provider-options.patch"
fi

step "building onnxruntime with TensorRT + CUDA and the Node binding (long)"
cd "$SRC_DIR"
./build.sh --config Release --update --build --parallel "$JOBS" \
  --build_shared_lib --skip_tests --allow_running_as_root \
  --use_cuda --cuda_home "$CUDA_HOME" --cudnn_home "$CUDNN_HOME" \
  --use_tensorrt --tensorrt_home "$TENSORRT_HOME" \
  --build_nodejs \
  --cmake_extra_defines "CMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" onnxruntime_BUILD_UNIT_TESTS=OFF \
    onnxruntime_USE_FLASH_ATTENTION=OFF onnxruntime_USE_MEMORY_EFFICIENT_ATTENTION=OFF

build_dir="$SRC_DIR/build/Linux/Release"
binding_dir=$(ls -d "$SRC_DIR"/js/node/bin/napi-v*/linux/arm64 2>/dev/null | head -n1)
[ -n "$binding_dir" ] || die "no js/node/bin/napi-v*/linux/arm64 after the build; see the cmake-js output above"

# Some onnxruntime releases build the binding without the provider defines unless asked explicitly;
# rebuild it with them when the first build does not list TensorRT.
probe() { (cd "$SRC_DIR/js/node" && node -e "const o=require('.');const b=o.listSupportedBackends().map(x=>x.name);process.exit(b.includes('tensorrt')&&b.includes('cuda')?0:1)"); }
cp "$build_dir"/libonnxruntime_providers_{shared,cuda,tensorrt}.so "$binding_dir/"
if ! probe; then
  step "rebuilding the binding with --use_cuda --use_tensorrt"
  (cd "$SRC_DIR/js/node" && npm run build -- --onnxruntime-build-dir="$build_dir" --config=Release --arch=arm64 --use_cuda --use_tensorrt)
  cp "$build_dir"/libonnxruntime_providers_{shared,cuda,tensorrt}.so "$binding_dir/"
  probe || die "the rebuilt binding still does not list tensorrt and cuda in listSupportedBackends()"
fi

step "installing into $PREFIX"
pack_dir=$(mktemp -d)
(cd "$SRC_DIR/js/common" && npm pack --pack-destination "$pack_dir" >/dev/null)
(cd "$SRC_DIR/js/node" && npm pack --pack-destination "$pack_dir" >/dev/null)
mkdir -p "$PREFIX"
[ -f "$PREFIX/package.json" ] || echo '{ "name": "spectra-ort", "private": true }' > "$PREFIX/package.json"
# --ignore-scripts: onnxruntime-node's install script would download the x64 CUDA binaries.
npm install --prefix "$PREFIX" --ignore-scripts --no-audit --no-fund "$pack_dir"/onnxruntime-common-*.tgz "$pack_dir"/onnxruntime-node-*.tgz
rm -rf "$pack_dir"
installed="$PREFIX/node_modules/onnxruntime-node"
# Older releases leave bin/ out of the package's "files"; the binding must sit where lib/binding.ts looks for it.
if ! ls -d "$installed"/bin/napi-v*/linux/arm64 >/dev/null 2>&1; then
  cp -r "$SRC_DIR/js/node/bin" "$installed/"
fi
installed_bin=$(ls -d "$installed"/bin/napi-v*/linux/arm64 | head -n1)
cp "$build_dir"/libonnxruntime_providers_{shared,cuda,tensorrt}.so "$installed_bin/"
node -e "
  const fs = require('fs');
  const file = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  pkg.spectraEdge = { honoursProviderOptions: ['tensorrt', 'cuda'], patch: '0001-forward-provider-options', ortRef: process.argv[2], cudaArchitectures: process.argv[3] };
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
" "$installed/package.json" "$ORT_REF" "$CUDA_ARCH"

step "verifying"
tiny_model=$(ls "$repo"/test/fixtures/tiny/*.onnx 2>/dev/null | head -n1 || true)
[ -n "$tiny_model" ] || die "no test/fixtures/tiny/*.onnx in $repo to verify the binding with"
node -e "
  const ort = require(process.argv[1]);
  console.log('backends:', JSON.stringify(ort.listSupportedBackends()));
  // A misspelt option must now be a TypeError instead of being dropped silently.
  ort.InferenceSession.create(process.argv[2], { executionProviders: [{ name: 'tensorrt', trt_fp16: '1' }] })
    .then(() => { console.error('the binding accepted an unknown TensorRT option: the patch is not active'); process.exit(1); })
    .catch((e) => {
      if (!/unknown option 'trt_fp16'/.test(e.message)) { console.error('unexpected error:', e.message); process.exit(1); }
      console.log('provider options are forwarded and checked');
    });
" "$installed" "$tiny_model"
echo
echo "build-onnxruntime: done. Use it with:"
echo "  export SPECTRA_ORT_BINDING=$installed"
echo "or set \"binding\": \"$installed\" in the device profile."
