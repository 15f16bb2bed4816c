import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('llmrec command line', () => {
  it('lists its commands with --help', () => {
    const r = run('--help');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/usage: llmrec <command>/);
    expect(r.stdout).to.match(/\bdemo\b/);
    expect(r.stdout).to.match(/\binfo\b/);
  });

  it('prints the build and devices as JSON', () => {
    const r = run('info', '--json');
    expect(r.status).to.equal(0);
    const parsed = JSON.parse(r.stdout) as {
      build: { backends: { cpu: boolean } };
      devices: { cpu: { threads: number } };
    };
    expect(parsed.build.backends.cpu).to.equal(true);
    expect(parsed.devices.cpu.threads).to.be.greaterThan(0);
  });

  it('rejects unknown commands and options with usage and exit code 2', () => {
    const unknown = run('frobnicate');
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr).to.match(/unknown command 'frobnicate'/);
    const badOption = run('info', '--bogus');
    expect(badOption.status).to.equal(2);
    expect(badOption.stderr).to.match(/unknown option --bogus/);
  });

  it('runs the demo on the CPU', () => {
    const r = run('demo', '--device', 'cpu');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/kernel check on cpu/);
    expect(r.stdout).not.to.match(/FAIL/);
  });
});
