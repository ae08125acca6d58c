// Shared set-up of the browser tests: a static server for dist/ on 127.0.0.1 and Debian's
// Chromium driven by playwright-core, with real WebGPU (SwiftShader when there is no GPU).
// Nothing here downloads anything: the browser is /usr/bin/chromium.
import { createServer } from 'node:http';
import { readFile, mkdir } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '..', '..');
// `DIGITLAB_DIST` serves another build (tests/browser/bench.mjs compares two).
export const DIST = process.env.DIGITLAB_DIST ?? join(ROOT, 'dist');
export const SHOTS = join(ROOT, 'target', 'browser');

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
  '.json': 'application/json', '.bpk': 'application/octet-stream', '.jsonl': 'text/plain',
};

export async function serve() {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = join(DIST, path.endsWith('/') ? join(path, 'index.html') : path);
    if (!file.startsWith(DIST)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/// Opens the page and waits until the shipped weights are loaded (status `ready`).
export async function open(browser, url, query = '') {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url + query);
  await waitStatus(page, /^ready$/, 180_000);
  return { page, errors };
}

export const text = (page, id) => page.getByTestId(id).innerText();

/// Waits in real time until the status matches `re`; fails at once on `error...` unless wanted.
export async function waitStatus(page, re, timeout = 300_000) {
  const start = Date.now();
  for (;;) {
    const s = (await text(page, 'status')).trim();
    if (re.test(s)) return s;
    if (s.startsWith('error') && !re.test('error')) throw new Error(`page status: ${s}`);
    const panic = await page.getByTestId('panic').innerText().catch(() => '');
    if (panic) throw new Error(`page panicked: ${panic}`);
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for status ${re}, last: ${s}`);
    await page.waitForTimeout(200);
  }
}

/// Clicks `testid` and waits until the run it starts has finished (the page counts finished
/// runs in `runs-finished`), then returns the status, which must match `re`.
export async function run(page, testid, re = /^done$/, timeout = 300_000) {
  const before = Number(await page.getByTestId('runs-finished').textContent());
  await page.getByTestId(testid).click();
  const start = Date.now();
  while (Number(await page.getByTestId('runs-finished').textContent()) === before) {
    const panic = await page.getByTestId('panic').innerText().catch(() => '');
    if (panic) throw new Error(`page panicked: ${panic}`);
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${testid} to finish`);
    await page.waitForTimeout(200);
  }
  const s = (await text(page, 'status')).trim();
  if (!re.test(s)) throw new Error(`after ${testid}: status ${s}`);
  return s;
}

/// Sets the sampling controls and presses Generate; resolves when the run is done.
export async function generate(page, { digit = '3', w = 2, sampler = 'ddim', steps = 4, count = 4, seed = 1 } = {}) {
  await page.getByTestId('digit').selectOption(String(digit));
  await page.getByTestId('guidance').fill(String(w));
  await page.getByTestId('sampler').selectOption(sampler);
  await page.getByTestId('steps').fill(String(steps));
  await page.getByTestId('count').fill(String(count));
  await page.getByTestId('seed').fill(String(seed));
  return run(page, 'generate');
}

/// The grey levels of a canvas, with its size.
export function canvasGrey(page, testid) {
  return page.getByTestId(testid).evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const grey = [];
    for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
    return { width: c.width, height: c.height, grey };
  });
}

/// Decodes a PNG file in the page (the browser is the PNG decoder) into grey levels.
export function pngGrey(page, bytes) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const grey = [];
    for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
    return { width: c.width, height: c.height, grey };
  }, Buffer.from(bytes).toString('base64'));
}

export async function shot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
