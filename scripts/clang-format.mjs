#!/usr/bin/env node
// Checks (default) or applies (--fix) clang-format on every C++ and CUDA source, with the
// clang-format binary that the npm package of that name ships.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const fix = process.argv.includes('--fix');

function sources(dir) {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(rel);
    return /\.(h|cc|cu|cuh)$/.test(entry.name) ? [rel] : [];
  });
}

const files = [...sources('native'), ...sources('cuda')];
const binary = require.resolve('clang-format/index.js');
const args = fix ? ['-i', ...files] : ['--dry-run', '-Werror', ...files];
const result = spawnSync(process.execPath, [binary, ...args], { cwd: root, encoding: 'utf8' });
process.stdout.write(result.stdout ?? '');
process.stderr.write(result.stderr ?? '');
if (result.status !== 0) {
  if (!fix) console.error('clang-format: run `npm run format` to fix the files above');
  process.exit(result.status ?? 1);
}
