// The page's bench view (`?bench=1`) run from the command line, so its numbers can be re-run:
//   node tests/browser/bench.mjs [webgpu|cpu ...] [--steps N] [--repeat K]
// Serves dist/ (built by `trunk build`), opens the view in Debian's headless Chromium once per
// backend named (both by default), and prints one JSON line per run: ms per guided UNet call
// of 16 digits, ms per 16-digit DDIM grid. Not a test: a benchmark, whose numbers depend on the
// machine (SwiftShader's WebGPU is a CPU emulation here).
import { serve, launch, open, run } from './harness.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const steps = flag('--steps', '5');
const repeat = Number(flag('--repeat', '1'));
const backends = args.length > 0 ? args : ['webgpu', 'cpu'];
for (const b of backends) {
  if (b !== 'webgpu' && b !== 'cpu') throw new Error(`unknown backend ${b}: webgpu or cpu`);
}

const { server, url } = await serve();
const browser = await launch();
try {
  for (const b of backends) {
    const { page } = await open(browser, url, b === 'cpu' ? '?bench=1&backend=cpu' : '?bench=1');
    await page.getByTestId('bench-steps').fill(steps);
    for (let k = 0; k < repeat; k++) {
      await run(page, 'bench-run', /^done$/, 900_000);
      console.log(await page.getByTestId('bench-result').textContent());
    }
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
