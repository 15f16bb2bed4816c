#!/usr/bin/env bash
# Run here, from the project root, before a GPU session: packs what the GPU machine (CUDA and
# PyTorch, no Node.js, no network) needs into .gpu/ (ignored by git):
#   .gpu/node.xz, .gpu/env.sh   the Node runtime (../shared/gpu/stage-node.sh)
#   .gpu/deps/node_modules      the runtime and test dependencies (bindings, mocha, chai)
#   .gpu/addon/                 the built addon, which must include the CUDA backend
# Then call the device tool with carry [".gpu", "dist"] and the command
#   bash scripts/gpu/run-suite.sh
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
node -e "
  const info = require('./build/Release/llmrec.node').buildInfo();
  if (!info.backends.cuda) { console.error('stage: the addon has no CUDA backend; rebuild with LLMREC_CUDA=on npm run build:native'); process.exit(1); }
  console.log('stage: addon', info.version, 'cuda', info.cudaVersion, info.cudaArchitectures);
"
npx tsc -p tsconfig.json
bash ../shared/gpu/stage-node.sh
mkdir -p .gpu/addon .gpu/deps
cp build/Release/llmrec.node build/llmrec-build.json .gpu/addon/
if [ ! -d .gpu/deps/node_modules/mocha ]; then
  (cd .gpu/deps && echo '{"private":true}' > package.json &&
    npm install --no-audit --no-fund --omit=dev --no-package-lock \
      "bindings@$(node -p "require('$root/node_modules/bindings/package.json').version")" \
      "mocha@$(node -p "require('$root/node_modules/mocha/package.json').version")" \
      "chai@$(node -p "require('$root/node_modules/chai/package.json').version")" >/dev/null)
fi
du -sh .gpu dist
echo "stage: ready; carry [\".gpu\", \"dist\"] and run: bash scripts/gpu/run-suite.sh"
