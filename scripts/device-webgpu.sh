#!/usr/bin/env bash
# The WebGPU check on a machine with a real GPU, from the kit scripts/device-kit.sh built (carried as .devicekit):
# unpacks Node and the engine into /tmp/bitnet-kit, makes Vulkan findable (the kit's loader when the machine has none;
# NVIDIA's ICD where the driver mounts it), prints what the machine has, then runs dist/bench/webgpu-device.js
# (adapter, correctness against wasm on tiny models, 2b-4t speed). Results go to $OUT (else ./device-out).
# Usage: bash scripts/device-webgpu.sh [webgpu-device.js options, e.g. --skip-speed or --tg 32]
set -uo pipefail
K="$(cd "$(dirname "$0")/.." && pwd)/.devicekit"
OUT_DIR="${OUT:-$PWD/device-out}"
mkdir -p "$OUT_DIR"
[ -f "$K/node.xz" ] || { echo "device-webgpu: $K is missing: run scripts/device-kit.sh and carry .devicekit" >&2; exit 2; }
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  for f in "$K"/debs/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
  ldconfig 2>/dev/null || true
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then export VK_DRIVER_FILES="$icd"; fi
done
R=/tmp/bitnet-kit
rm -rf "$R" && mkdir -p "$R"
# xz where the machine has it, else Python's lzma (the device images have python3)
unxz_to() { if command -v xz >/dev/null 2>&1; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }
unxz_to "$K/node.xz" > "$R/node" && chmod +x "$R/node"
unxz_to "$K/app.tar.xz" | tar -x -C "$R"
{
  echo "== machine"; uname -a; nproc; (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo 'no nvidia-smi')
  echo "== vulkan"; ldconfig -p | grep libvulkan || echo 'no libvulkan'; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"
  echo "== node $("$R/node" --version)"
} 2>&1 | tee "$OUT_DIR/machine.txt"
cd "$R" && BITNET_BENCH_CACHE=/tmp/bitnet-bench-cache ./node dist/bench/webgpu-device.js --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/webgpu-device.log"
