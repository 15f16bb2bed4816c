#!/usr/bin/env node
// `npm run test:asan`: the native test suite against an AddressSanitizer build of the CPU
// backend. The addon is built in build-asan/ (so the normal build/ is untouched) and loaded
// through LLMREC_ADDON; Node itself is not instrumented, so libasan is preloaded.
//
//   node scripts/test-asan.mjs [test files...]   default: the suites that exercise native code
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const buildDir = path.join(root, 'build-asan');
const jobs = String(Number(process.env.LLMREC_BUILD_JOBS) || os.availableParallelism());

// Every suite that reaches native code; the CLI, data, serving and pipeline suites spend their
// time in JS and child processes and are left to `npm test`.
const nativeSuites = [
  'activation',
  'attention',
  'autograd',
  'elementwise',
  'embedding',
  'errors',
  'gemm',
  'infonce',
  'layout',
  'loss',
  'losses',
  'memory',
  'mlp-distill',
  'native-safety',
  'nn-layers',
  'nn-module',
  'norm',
  'optim',
  'runtime',
  'softmax',
  'tensor',
  'topk',
  'train',
];

function run(command, args, env = process.env) {
  console.log(`test:asan: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const common = ['--out', buildDir, '--parallel', jobs];
// The CPU backend only: CMakeLists.txt lets an LLMREC_CUDA in the environment (CI exports `on`)
// override the cache flag, so the environment says `off` too, for the build and for the tests
// (which check that the loaded addon has the backends LLMREC_CUDA asks for).
const buildEnv = { ...process.env, LLMREC_CUDA: 'off' };
if (
  run(
    process.execPath,
    [
      cmakeJs,
      'configure',
      ...common,
      '--CDLLMREC_CUDA=off',
      '--CDLLMREC_SANITIZE=address',
      '--CDLLMREC_MARCH=x86-64-v3',
    ],
    buildEnv,
  ) !== 0 ||
  run(process.execPath, [cmakeJs, 'build', ...common], buildEnv) !== 0
)
  process.exit(1);
if (run('npx', ['tsc', '-p', 'tsconfig.json']) !== 0) process.exit(1);

const libasan = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
if (!libasan || !existsSync(libasan)) {
  console.error('test:asan: libasan.so not found (gcc -print-file-name=libasan.so); install gcc with ASan');
  process.exit(1);
}
const files = (
  process.argv.length > 2 ? process.argv.slice(2) : nativeSuites.map((s) => `dist/test/${s}.test.js`)
).filter((f) => existsSync(path.join(root, f)));
const env = {
  ...buildEnv,
  LD_PRELOAD: libasan,
  LLMREC_ADDON: path.join(buildDir, 'Release', 'llmrec.node'),
  // Node and V8 keep memory to the end by design: leak reports would be noise, errors are not.
  // A huge allocation must fail as it does without ASan (the out-of-memory tests), not abort.
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1',
  // Tests that bound RSS skip that bound (ASan's quarantine keeps freed memory), and child
  // processes with a time limit get five times as long.
  LLMREC_ASAN: '1',
  LLMREC_TEST_TIME_SCALE: '5',
};
const started = Date.now();
// ASan makes the native code 2-5x slower: the memory tests' 1,000 training steps took 59 s alone
// and over the 120 s default timeout on a loaded machine, where a timed-out test's training loop
// went on running under the next tests. Give every test ten minutes.
const status = run(
  process.execPath,
  [require.resolve('mocha/bin/mocha.js'), '--expose-gc', '--timeout', '600000', ...files],
  env,
);
console.log(`test:asan: ${files.length} suites, exit ${status}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(status);
