#!/usr/bin/env node
// Builds the native addon into build/Release/llmrec.node.
//
//   LLMREC_CUDA=auto|on|off      auto (default): the CUDA backend only where it can run: when
//                                `nvidia-smi` reports a GPU, for that GPU's own architecture (its
//                                compute capability, e.g. sm_90), else the CPU backend alone.
//                                on: CUDA for sm_80 + sm_90 + compute_90 PTX whether or not a GPU
//                                is here (CI; fails without nvcc). off: the CPU backend alone.
//   LLMREC_CUDA_ARCH=90[,80...]  with LLMREC_CUDA=on: these architectures (sm_NN, no PTX) instead
//   LLMREC_BUILD=auto|cmake|gyp  auto: cmake-js where CMake exists (falling back to node-gyp if
//                                that build fails and CUDA was not demanded), else node-gyp
//   LLMREC_MARCH=x86-64-v3       -march for the CPU twins on x86-64 ('' for the compiler default)
//   --debug                      a Debug build (cmake-js only)
//   --plan                       print the decision as JSON and build nothing
//
// Runs as the package's `install` script, so `npm install` builds everything with no other step.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const buildDir = path.join(root, 'build');
const stampFile = path.join(buildDir, 'llmrec-build.json');

const mode = (process.env.LLMREC_BUILD || 'auto').toLowerCase();
const cuda = (process.env.LLMREC_CUDA || 'auto').toLowerCase();
const debug = process.argv.includes('--debug');
const march = process.env.LLMREC_MARCH ?? 'x86-64-v3';
const jobs = String(Number(process.env.LLMREC_BUILD_JOBS) || os.availableParallelism());

function fail(message) {
  console.error(`llmrec build: ${message}`);
  process.exit(1);
}
if (!['auto', 'cmake', 'gyp'].includes(mode)) fail(`LLMREC_BUILD must be auto, cmake or gyp (got '${mode}')`);
if (!['auto', 'on', 'off'].includes(cuda)) fail(`LLMREC_CUDA must be auto, on or off (got '${cuda}')`);
if (mode === 'gyp' && cuda === 'on') fail('LLMREC_CUDA=on needs the CMake build; node-gyp builds the CPU backend only');

// sm_80 and sm_90 machine code plus compute_90 PTX, which newer GPUs compile at load time.
const ALL_ARCHITECTURES = '80-real;90-real;90-virtual';

/** The compute capabilities the NVIDIA driver reports, or why there are none. */
function detectGpus() {
  const query = spawnSync('nvidia-smi', ['--query-gpu=compute_cap,name', '--format=csv,noheader'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (query.error) return { gpus: [], reason: 'no NVIDIA driver (nvidia-smi not found)' };
  const lines = `${query.stdout ?? ''}`.split('\n').map((line) => line.trim());
  if (query.status !== 0) {
    const said = [...lines, ...`${query.stderr ?? ''}`.split('\n')].find((line) => line.trim() !== '');
    return { gpus: [], reason: `nvidia-smi failed${said ? `: ${said.trim()}` : ''}` };
  }
  const gpus = [];
  for (const line of lines.filter((l) => l !== '')) {
    const match = /^(\d+)\.(\d+)\s*,\s*(.*)$/.exec(line);
    if (match) gpus.push({ arch: `${match[1]}${match[2]}`, name: match[3] });
  }
  if (gpus.length === 0) return { gpus, reason: 'nvidia-smi lists no GPU with a compute capability' };
  return { gpus, reason: '' };
}

function parseArchList(text) {
  const archs = text.split(/[,;\s]+/).filter((a) => a !== '');
  for (const arch of archs) {
    if (!/^\d{2,3}$/.test(arch))
      fail(`LLMREC_CUDA_ARCH must list compute capabilities such as 90 or 80,90 (got '${text}')`);
  }
  if (archs.length === 0) fail('LLMREC_CUDA_ARCH is set but lists no architecture');
  return [...new Set(archs)].map((a) => `${a}-real`).join(';');
}

/**
 * What to build: `cuda` is the LLMREC_CUDA value CMake gets (on/off; auto only where a GPU was
 * found, so that CMake still falls back to the CPU backend when nvcc is missing), `architectures`
 * the CMAKE_CUDA_ARCHITECTURES list, `line` the one line that says which and how to change it.
 */
function plan() {
  const archOverride = process.env.LLMREC_CUDA_ARCH;
  if (archOverride && cuda !== 'on') fail('LLMREC_CUDA_ARCH needs LLMREC_CUDA=on');
  if (cuda === 'off') {
    return {
      cuda: 'off',
      architectures: '',
      line: 'CPU backend only (LLMREC_CUDA=off); LLMREC_CUDA=auto or on adds CUDA',
    };
  }
  if (cuda === 'on') {
    const architectures = archOverride ? parseArchList(archOverride) : ALL_ARCHITECTURES;
    return {
      cuda: 'on',
      architectures,
      line:
        `CPU and CUDA backends, CUDA for ${describeArchs(architectures)} (LLMREC_CUDA=on${archOverride ? `, LLMREC_CUDA_ARCH=${archOverride}` : ''}); ` +
        'LLMREC_CUDA=auto compiles CUDA only for a GPU found here, LLMREC_CUDA=off not at all',
    };
  }
  const { gpus, reason } = detectGpus();
  if (gpus.length === 0) {
    return {
      cuda: 'off',
      architectures: '',
      line:
        `CPU backend only: LLMREC_CUDA=auto and ${reason}, so no GPU could run CUDA here; ` +
        'LLMREC_CUDA=on compiles CUDA for sm_80/sm_90 anyway (needs nvcc; about 6 minutes on 2 idle cores)',
    };
  }
  const architectures = [...new Set(gpus.map((g) => `${g.arch}-real`))].join(';');
  const names = [...new Set(gpus.map((g) => g.name))].join(', ');
  return {
    cuda: 'auto',
    architectures,
    line:
      `CPU and CUDA backends, CUDA for ${describeArchs(architectures)} only, the GPU found here (${names}; LLMREC_CUDA=auto, CUDA needs nvcc); ` +
      'LLMREC_CUDA=on compiles sm_80 + sm_90 + PTX, LLMREC_CUDA=off the CPU backend alone',
  };
}

function describeArchs(architectures) {
  return architectures
    .split(';')
    .map((a) => (a.endsWith('-virtual') ? `compute_${a.replace('-virtual', '')} PTX` : `sm_${a.replace('-real', '')}`))
    .join(' + ');
}

function has(command) {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(command, args, env = process.env) {
  console.log(`llmrec build: ${[command, ...args].join(' ')}`);
  return spawnSync(command, args, { cwd: root, stdio: 'inherit', env }).status === 0;
}

// Both build systems write build/; switching between them needs a clean directory.
function claimBuildDir(system) {
  if (existsSync(stampFile)) {
    const previous = JSON.parse(readFileSync(stampFile, 'utf8'));
    if (previous.system !== system) rmSync(buildDir, { recursive: true, force: true });
  } else if (existsSync(buildDir)) {
    rmSync(buildDir, { recursive: true, force: true });
  }
  mkdirSync(buildDir, { recursive: true });
  // lib/binding.ts reads `march` to check the CPU before it loads the addon.
  writeFileSync(
    stampFile,
    JSON.stringify({ system, cuda: decision.cuda, architectures: decision.architectures, debug, march }) + '\n',
  );
}

function buildWithCmake() {
  claimBuildDir('cmake-js');
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const common = ['--parallel', jobs, ...(debug ? ['--debug'] : [])];
  // CMakeLists.txt reads LLMREC_CUDA from the environment too: give it the decision, not the request.
  const cmakeEnv = { ...process.env, LLMREC_CUDA: decision.cuda };
  return (
    run(
      process.execPath,
      [
        cmakeJs,
        'configure',
        ...common,
        `--CDLLMREC_CUDA=${decision.cuda}`,
        `--CDLLMREC_CUDA_ARCHITECTURES=${decision.architectures || ALL_ARCHITECTURES}`,
        `--CDLLMREC_MARCH=${march}`,
      ],
      cmakeEnv,
    ) && run(process.execPath, [cmakeJs, 'build', ...common], cmakeEnv)
  );
}

function buildWithGyp() {
  claimBuildDir('node-gyp');
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  const args = [nodeGyp, 'rebuild', '--jobs', jobs];
  // Build against the headers of the running Node when they are installed, never a download.
  const prefix = path.dirname(path.dirname(process.execPath));
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  return run(process.execPath, args);
}

const decision = plan();
if (process.argv.includes('--plan')) {
  console.log(JSON.stringify(decision));
  process.exit(0);
}
console.log(`llmrec build: ${decision.line}`);

let ok;
if (mode === 'gyp') {
  ok = buildWithGyp();
} else if (has('cmake')) {
  ok = buildWithCmake();
  if (!ok && mode === 'auto' && decision.cuda !== 'on') {
    console.warn('llmrec build: the CMake build failed; falling back to node-gyp (CPU backend only)');
    ok = buildWithGyp();
  }
} else if (mode === 'cmake' || cuda === 'on') {
  fail('CMake is not installed, and it is needed for LLMREC_BUILD=cmake or LLMREC_CUDA=on');
} else {
  console.log('llmrec build: CMake not found; building the CPU backend with node-gyp');
  ok = buildWithGyp();
}
if (!ok) fail('the native build failed (see the compiler output above)');
try {
  const info = execFileSync(
    process.execPath,
    [
      '-e',
      `console.log(JSON.stringify(require(${JSON.stringify(path.join(buildDir, 'Release', 'llmrec.node'))}).buildInfo().backends))`,
    ],
    { encoding: 'utf8' },
  );
  console.log(`llmrec build: built build/Release/llmrec.node with backends ${info.trim()}`);
} catch (error) {
  fail(`the addon was built but does not load: ${error.message}`);
}
