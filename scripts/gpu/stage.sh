#!/usr/bin/env bash
# Run here, from the project root, before a GPU session: packs what the GPU machine (CUDA and
# PyTorch, no Node.js, no network) needs into .gpu/ (ignored by git):
#   .gpu/node.xz, .gpu/env.sh   the Node runtime (../shared/gpu/stage-node.sh)
#   .gpu/deps.txz               the runtime and test dependencies (bindings, mocha, chai, fastify...)
#   .gpu/addon/                 the built addon, which must include the CUDA backend
# Then call the device tool with carry [".gpu", "dist"] and the command
#   bash scripts/gpu/run-suite.sh
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
node -e "
  const info = require('./build/Release/llmrec.node').buildInfo();
  if (!info.backends.cuda) { console.error('stage: the addon has no CUDA backend; rebuild with LLMREC_CUDA=on LLMREC_CUDA_ARCH=90 npm run build:native (sm_90 for the H200; plain LLMREC_CUDA=on adds sm_80 and PTX)'); process.exit(1); }
  console.log('stage: addon', info.version, 'cuda', info.cudaVersion, info.cudaArchitectures);
"
npx tsc -p tsconfig.json
bash ../shared/gpu/stage-node.sh
mkdir -p .gpu/addon
cp build/Release/llmrec.node build/llmrec-build.json .gpu/addon/
# The runtime and test dependencies at this checkout's versions, packed (xz) to keep the carry small:
# the addon's loader, mocha and chai, and what `llmrec serve` and its load bench need.
deps=(bindings mocha chai fastify @fastify/swagger @fastify/under-pressure prom-client autocannon)
if [ ! -f .gpu/deps.txz ] || [ package-lock.json -nt .gpu/deps.txz ]; then
  tmp=$(mktemp -d)
  specs=()
  for dep in "${deps[@]}"; do specs+=("$dep@$(node -p "require('$root/node_modules/$dep/package.json').version")"); done
  (cd "$tmp" && echo '{"private":true}' > package.json &&
    npm install --no-audit --no-fund --omit=dev --no-package-lock "${specs[@]}" >/dev/null)
  tar -C "$tmp" -cJf .gpu/deps.txz node_modules
  rm -rf "$tmp"
fi
du -sh .gpu dist
echo "stage: ready; carry [\".gpu\", \"dist\"] and run: bash scripts/gpu/run-suite.sh"
