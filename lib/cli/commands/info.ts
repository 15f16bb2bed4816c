// llmrec info: what was built and which devices can run it.
import { buildInfo, devices } from '../../device.js';
import { defineCommand } from '../args.js';

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'Show the compiled backends and the usable devices (and why a GPU is not usable).',
  options: {
    json: { type: 'boolean', description: 'print JSON instead of text', default: false },
  },
  async run(options) {
    const info = buildInfo();
    const report = devices();
    if (options.json) {
      console.log(JSON.stringify({ build: info, devices: report }, null, 2));
      return;
    }
    console.log(`llmrec ${info.version} (${info.buildSystem}, ${info.buildType}, N-API ${info.napiVersion})`);
    console.log(`backends: cpu${info.backends.cuda ? `, cuda ${info.cudaVersion} [${info.cudaArchitectures}]` : ''}`);
    console.log(`cpu: ${report.cpu.threads} threads`);
    if (report.cuda.available) {
      for (const gpu of report.cuda.devices) {
        console.log(
          `${gpu.id}: ${gpu.name}, ${(gpu.totalMemory / 2 ** 30).toFixed(1)} GiB, compute ${gpu.computeCapability}, ${gpu.multiprocessors} SMs`,
        );
      }
    } else {
      console.log(`cuda: not usable: ${report.cuda.reason ?? 'unknown reason'}`);
    }
  },
});
