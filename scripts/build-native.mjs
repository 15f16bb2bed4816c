#!/usr/bin/env node
// Builds the native addon into build/Release/llmrec.node.
//
//   LLMREC_BUILD=auto|cmake|gyp  auto: cmake-js where CMake exists (falling back to node-gyp if
//                                that build fails and CUDA was not demanded), else node-gyp
//   LLMREC_CUDA=auto|on|off      passed to CMakeLists.txt; `on` fails the build without nvcc
//   LLMREC_MARCH=x86-64-v3       -march for the CPU twins on x86-64 ('' for the compiler default)
//   --debug                      a Debug build (cmake-js only)
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

function has(command) {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  console.log(`llmrec build: ${[command, ...args].join(' ')}`);
  return spawnSync(command, args, { cwd: root, stdio: 'inherit' }).status === 0;
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
  writeFileSync(stampFile, JSON.stringify({ system, cuda, debug, march }) + '\n');
}

function buildWithCmake() {
  claimBuildDir('cmake-js');
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const common = ['--parallel', jobs, ...(debug ? ['--debug'] : [])];
  return (
    run(process.execPath, [cmakeJs, 'configure', ...common, `--CDLLMREC_CUDA=${cuda}`, `--CDLLMREC_MARCH=${march}`]) &&
    run(process.execPath, [cmakeJs, 'build', ...common])
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

let ok;
if (mode === 'gyp') {
  ok = buildWithGyp();
} else if (has('cmake')) {
  ok = buildWithCmake();
  if (!ok && mode === 'auto' && cuda !== 'on') {
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
