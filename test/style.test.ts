// Style is checked, never reviewed: prettier and eslint for TypeScript and scripts, clang-format
// for C++ and CUDA. (The type check runs before mocha: `npm test` starts with tsc.)
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

function check(args: string[]): void {
  const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  expect(result.status, `${result.stdout}\n${result.stderr}`).to.equal(0);
}

describe('style', function () {
  this.timeout(300_000);

  it('TypeScript and scripts are formatted with prettier', () => {
    check([require.resolve('prettier/bin/prettier.cjs'), '--check', '--log-level', 'warn', '.']);
  });

  it('eslint finds nothing', () => {
    check([path.join(path.dirname(require.resolve('eslint/package.json')), 'bin', 'eslint.js'), '.']);
  });

  it('C++ and CUDA sources are formatted with clang-format', () => {
    check([path.join(root, 'scripts', 'clang-format.mjs')]);
  });
});
