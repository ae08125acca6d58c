// The page's bench view (`?bench=1`) run from the command line, so its numbers can be re-run:
//   node tests/browser/bench.mjs [webgpu|cpu ...] [--steps N] [--repeat K]
//   node tests/browser/bench.mjs [webgpu|cpu ...] --live [--repeat K]
// Serves dist/ (built by `trunk build`), opens the view in Debian's headless Chromium once per
// backend named (both by default), and prints one JSON line per run: ms per guided UNet call
// of 16 digits, ms per 16-digit DDIM grid. With --live, the Sample view's live mode instead:
// 16 digits, the guidance slider moved K times, the page's own "ms per redraw" of each move
// (the distilled student's 4 steps, painted). Not a test: a benchmark, whose numbers depend on
// the machine (SwiftShader's WebGPU is a CPU emulation here).
import { serve, launch, open, run, waitStatus, text } from './harness.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const live = args.includes('--live');
if (live) args.splice(args.indexOf('--live'), 1);
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
    if (live) {
      await liveRedraws(b);
      continue;
    }
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

/// Live mode on backend `b`: 16 threes, the slider moved `repeat` times after the first draw.
async function liveRedraws(b) {
  const { page } = await open(browser, url, b === 'cpu' ? '?backend=cpu' : '');
  await page.getByTestId('count').fill('16');
  const finished = async () => Number(await page.getByTestId('runs-finished').textContent());
  let before = await finished();
  await page.getByTestId('live').check();
  const settle = async () => {
    const start = Date.now();
    while ((await finished()) === before) {
      if (Date.now() - start > 900_000) throw new Error('no redraw');
      await page.waitForTimeout(100);
    }
    await waitStatus(page, /^done$/);
    before = await finished();
    return Number((/([0-9]+) ms per redraw/.exec(await text(page, 'live-ms')) ?? [])[1]);
  };
  const first = await settle();
  const ws = [0.5, 1, 1.5, 2, 3, 4];
  for (let k = 0; k < repeat; k++) {
    const w = ws[k % ws.length];
    await page.getByTestId('guidance').fill(String(w));
    const ms = await settle();
    console.log(JSON.stringify({ mode: 'live', backend: await text(page, 'backend'), digits: 16, guidance: w, ms_per_redraw: ms, first_redraw_ms: k === 0 ? first : undefined }));
  }
  await page.close();
}
