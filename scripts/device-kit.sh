#!/usr/bin/env bash
# Builds .devicekit/ (git-ignored): what scripts/device-webgpu.sh needs on a machine with a GPU that reaches no
# registry (this workplace's device machines: no npm, no Node, maybe no Vulkan loader). Run here, then carry it:
#   bash scripts/device-kit.sh
#   device run: carry ['.devicekit'], command 'bash scripts/device-webgpu.sh'
# Contents (~45 MiB, under the 64 MiB a device call carries): the Node binary of node_modules (xz), the built engine
# and bench (dist/src, dist/bench, tests left out), the runtime packages the engine and synth import, the `webgpu`
# package with only its linux-x64 Dawn binding, and Debian's Vulkan loader (libvulkan1) in case the machine lacks it.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
K=.devicekit
mkdir -p "$K"
rm -rf "$K/app.tar.xz" "$K/debs"
# the Node binary changes only with node_modules: recompressed (about 2 minutes) only when newer than the kit's copy
if [ ! -f "$K/node.xz" ] || [ node_modules/node/bin/node -nt "$K/node.xz" ]; then xz -T2 -6 -c node_modules/node/bin/node > "$K/node.xz"; fi
tar -cJf "$K/app.tar.xz" --exclude='*.test.js' --exclude='*.test.d.ts' --exclude='*.d.ts.map' --exclude='*.js.map' \
  package.json dist/src dist/bench \
  node_modules/@huggingface/jinja/package.json node_modules/@huggingface/jinja/dist \
  node_modules/llama3-tokenizer-js/package.json node_modules/llama3-tokenizer-js/bundle node_modules/llama3-tokenizer-js/src \
  node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/dist/linux-x64
# the Vulkan loader, as the device notes advise (amd64 packages, whatever this machine is)
mkdir -p "$K/debs" /tmp/devicekit-apt/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/devicekit-apt'
# shellcheck disable=SC2086
if apt-get $o update >/dev/null 2>&1 && (cd "$K/debs" && apt-get $o download libvulkan1 >/dev/null 2>&1); then :; else
  echo "device-kit: could not download libvulkan1 (no apt here?): the kit relies on the machine's own loader" >&2
fi
du -sh "$K"/* | sed 's/^/device-kit: /'
du -sh "$K" | sed 's/^/device-kit: total /'
