// Browser tests of the page (tests/README.md lists the contract they rely on). They need
// dist/ built by `trunk build` (scripts/test does it) and the native `digitlab` binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, SHOTS, serve, launch, open, text, waitStatus, run, generate, canvasGrey, pngGrey, shot } from './harness.mjs';

const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
const DIGITLAB = process.env.DIGITLAB ?? join(TARGET, 'release', 'digitlab');

let server, url, browser;
before(async () => {
  ({ server, url } = await serve());
  browser = await launch();
});
after(async () => {
  await browser?.close();
  server?.close();
});

const labelsOf = async (page) => (await text(page, 'predictions')).split(',').filter((s) => s !== '').map(Number);

test('the shipped weights load on WebGPU, and 4 threes come out as threes', async () => {
  const { page, errors } = await open(browser, url);
  assert.match(await text(page, 'backend'), /WebGPU/);
  assert.match(await text(page, 'model-info'), /ddpm-cfg\.bpk \(shipped\)/);
  await generate(page, { digit: 3, w: 2, sampler: 'ddim', steps: 10, count: 4, seed: 1 });
  assert.equal((await text(page, 'step-counter')).trim(), '10/10');
  const labels = await labelsOf(page);
  await shot(page, 'webgpu-threes');
  assert.equal(labels.length, 4);
  assert.ok(labels.filter((l) => l === 3).length >= 3, `classifier labels: ${labels}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the same on the CPU backend (?backend=cpu)', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  assert.match(await text(page, 'backend'), /CPU/);
  await generate(page, { digit: 3, w: 2, sampler: 'ddim', steps: 10, count: 4, seed: 1 });
  assert.equal((await text(page, 'step-counter')).trim(), '10/10');
  const labels = await labelsOf(page);
  await shot(page, 'cpu-threes');
  assert.ok(labels.filter((l) => l === 3).length >= 3, `classifier labels: ${labels}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('another guidance value changes the digits', async () => {
  const { page } = await open(browser, url, '?backend=cpu');
  await generate(page, { digit: 5, w: 0, steps: 3, count: 2, seed: 4 });
  const a = await canvasGrey(page, 'samples');
  await generate(page, { digit: 5, w: 4, steps: 3, count: 2, seed: 4 });
  const b = await canvasGrey(page, 'samples');
  await generate(page, { digit: 5, w: 4, steps: 3, count: 2, seed: 4 });
  const c = await canvasGrey(page, 'samples');
  const diff = (x, y) => x.grey.reduce((s, v, i) => s + Math.abs(v - y.grey[i]), 0) / x.grey.length;
  assert.ok(diff(a, b) > 2, `w = 0 and w = 4 differ by only ${diff(a, b)} grey levels on average`);
  assert.equal(diff(b, c), 0, 'the same settings must give the same picture');
  await page.close();
});

test('Stop ends a long run at once, and the page stays responsive while it samples', async () => {
  const { page } = await open(browser, url, '?backend=cpu');
  await page.getByTestId('steps').fill('1000');
  await page.getByTestId('count').fill('2');
  await page.getByTestId('sampler').selectOption('ddpm');
  await page.getByTestId('generate').click();
  await page.waitForFunction(() => parseInt(document.querySelector('[data-testid=step-counter]').innerText) >= 3);
  // While it samples, the slider still moves and shows its value.
  await page.getByTestId('guidance').fill('3.5');
  assert.equal((await text(page, 'guidance-value')).trim(), '3.5');
  const t0 = Date.now();
  await page.getByTestId('stop').click();
  await waitStatus(page, /^stopped$/, 5_000);
  const stoppedAt = await text(page, 'step-counter');
  await page.waitForTimeout(1_000);
  assert.equal(await text(page, 'step-counter'), stoppedAt, 'no step after Stop');
  assert.ok(Date.now() - t0 < 5_000);
  assert.match(stoppedAt, /^\d+\/1000$/);
  await page.close();
});

test('a corrupt weights file gets a message, and the page keeps working', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  const card = await readFile(join(ROOT, 'public/weights/ddpm-cfg.json'));
  const weights = Buffer.from(await readFile(join(ROOT, 'public/weights/ddpm-cfg.bpk')));
  for (let i = 1000; i < 1100; i++) weights[i] ^= 0xff;
  await page.getByTestId('weights-file').setInputFiles([
    { name: 'ddpm-cfg.json', mimeType: 'application/json', buffer: card },
    { name: 'ddpm-cfg.bpk', mimeType: 'application/octet-stream', buffer: weights },
  ]);
  await waitStatus(page, /^error/, 60_000);
  assert.match(await text(page, 'weights-message'), /Not loaded: .*sha256/i);
  // Not a card at all.
  await page.getByTestId('weights-file').setInputFiles([
    { name: 'notes.json', mimeType: 'application/json', buffer: Buffer.from('{"hello": 1}') },
    { name: 'x.bpk', mimeType: 'application/octet-stream', buffer: Buffer.from([1, 2, 3]) },
  ]);
  await page.waitForFunction(() => !document.querySelector('[data-testid=weights-message]').innerText.includes('sha256'));
  assert.match(await text(page, 'weights-message'), /Not loaded/);
  await shot(page, 'corrupt-weights');
  assert.match(await text(page, 'model-info'), /\(shipped\)/);
  await generate(page, { digit: 1, steps: 2, count: 1 });
  assert.equal((await text(page, 'step-counter')).trim(), '2/2');
  assert.deepEqual(errors.filter((e) => !e.includes('404')), []);
  await page.close();
});

test('a dropped card with a huge config, NaN weights or a wrong kind is refused, and the page keeps its model', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  const { createHash } = await import('node:crypto');
  const shipped = JSON.parse(await readFile(join(ROOT, 'public/weights/ddpm-cfg.json'), 'utf8'));
  const weights = Buffer.from(await readFile(join(ROOT, 'public/weights/ddpm-cfg.bpk')));
  const drop = async (card, bpk, name) => {
    await page.getByTestId('weights-file').setInputFiles([
      { name: `${name}.json`, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(card)) },
      { name: card.weights, mimeType: 'application/octet-stream', buffer: bpk },
    ]);
  };
  const refused = async (drop, pattern) => {
    const before = await text(page, 'weights-message');
    await drop();
    await page.waitForFunction((b) => document.querySelector('[data-testid=weights-message]').innerText !== b, before, { timeout: 60_000 });
    assert.match(await text(page, 'weights-message'), pattern);
  };
  // 1. n_feat 60000 (5e11 bytes in one convolution): refused by its parameter count; 100000,
  //    beyond the models' bounds, by its config.
  await refused(() => drop({ ...shipped, model: { ...shipped.model, unet: { ...shipped.model.unet, n_feat: 60000 } } }, weights, 'huge'),
    /Not loaded: .*parameters/);
  await refused(() => drop({ ...shipped, model: { ...shipped.model, unet: { ...shipped.model.unet, n_feat: 100000 } } }, weights, 'huger'),
    /Not loaded: .*at most 65536/);
  // 2. NaN weights whose sha256 the card vouches for.
  const nan = Buffer.from(weights);
  nan.fill(0xff, nan.length - 4096);
  const sha = createHash('sha256').update(nan).digest('hex');
  await refused(() => drop({ ...shipped, sha256: sha }, nan, 'nan'), /Not loaded: .*not a finite number/);
  // 3. A kind this page does not load.
  const ae = JSON.parse(await readFile(join(ROOT, 'public/weights/autoencoder.json'), 'utf8'));
  await refused(() => drop(ae, Buffer.from([1, 2, 3]), 'autoencoder'), /`autoencoder` model/);
  // The shipped model is still the one that samples.
  assert.match(await text(page, 'model-info'), /\(shipped\)/);
  await generate(page, { digit: 7, steps: 2, count: 1 });
  assert.equal((await text(page, 'step-counter')).trim(), '2/2');
  assert.deepEqual(errors.filter((e) => !e.includes('404')), []);
  await page.close();
});

test('offline after the first visit: the service worker keeps every file, and the reloaded page samples without a network', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  // The worker is installed (every file of precache.json cached) and controls the page.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    while (!navigator.serviceWorker.controller) await new Promise((r) => setTimeout(r, 100));
  });
  const cached = await page.evaluate(async () => {
    const { files } = await (await fetch('precache.json')).json();
    const names = await caches.keys();
    const cache = await caches.open(names.find((n) => n.startsWith('digitlab-')));
    const missing = [];
    for (const f of files) if (!(await cache.match(f))) missing.push(f);
    return { files: files.length, missing };
  });
  assert.ok(cached.files > 10 && cached.missing.length === 0, JSON.stringify(cached));
  await page.context().setOffline(true);
  await page.reload();
  await waitStatus(page, /^ready$/, 180_000);
  await generate(page, { digit: 4, steps: 2, count: 1 });
  assert.equal((await text(page, 'step-counter')).trim(), '2/2');
  // A file the first visit never fetched (the VAE's weights) comes from the cache too.
  const vae = await page.evaluate(async () => (await fetch('weights/vae.bpk')).arrayBuffer().then((b) => b.byteLength));
  assert.ok(vae > 100_000, `${vae}`);
  assert.deepEqual(errors.filter((e) => !e.includes('404')), []);
  await page.close();
});

test('the forward-process view: closed form and iteration agree statistically', async () => {
  const { page } = await open(browser, url, '?backend=cpu');
  await page.getByTestId('tab-forward').click();
  await page.getByTestId('forward-index').fill('3');
  await page.getByTestId('forward-t').fill('300');
  await run(page, 'forward-run');
  const s = JSON.parse(await page.getByTestId('forward-stats').textContent());
  await shot(page, 'forward');
  // 64 draws x 784 pixels: the spreads agree to well under 1 %, the means to about 0.01.
  assert.ok(Math.abs(s.std_closed - s.std_theory) < 0.01, JSON.stringify(s));
  assert.ok(Math.abs(s.std_iter - s.std_theory) < 0.01, JSON.stringify(s));
  assert.ok(Math.abs(s.mean_err_closed) < 0.01 && Math.abs(s.mean_err_iter) < 0.01, JSON.stringify(s));
  await page.close();
});

test('every formula is MathML the browser lays out, and no TeX is left in the text of any view', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  // The views with explanations (crates/explain/content/en/<view>.md), by tab.
  const explained = { sample: 'sampling', edit: 'edit', forward: 'forward', divergence: 'divergence', score: 'score', vae: 'vae', gan: 'gan', text: 'text' };
  for (const tab of ['sample', 'edit', 'forward', 'divergence', 'score', 'vae', 'gan', 'text', 'compare', 'bench']) {
    await page.getByTestId(`tab-${tab}`).click();
    const found = await page.evaluate(() => {
      // The shown view's prose: hidden views, formulas, code and preformatted data (identifiers
      // and JSON keys keep their `_`) left out.
      const copy = document.body.cloneNode(true);
      copy.querySelectorAll('.hidden, math, code, pre, script, style, noscript').forEach((e) => e.remove());
      const prose = copy.textContent;
      // Crates/explain's leftover_tex, in JavaScript: `$`, a command, `_{`/`^{`, or `x_t`.
      const tex = prose.match(/\$|\\[A-Za-z]|[_^]\{|(?<![\p{L}\p{N}])\p{L}[_^][\p{L}\p{N}]/u);
      const shown = [...document.querySelectorAll('math')].filter((m) => m.closest('.hidden') === null);
      return {
        tex: tex ? prose.slice(Math.max(0, tex.index - 30), tex.index + 30) : null,
        math: shown.length,
        mathml: shown.every((m) => m instanceof MathMLElement),
        laidOut: shown.filter((m) => m.getBoundingClientRect().width > 0).length,
      };
    });
    assert.equal(found.tex, null, `${tab}: TeX in the text`);
    if (explained[tab]) {
      assert.ok(await page.getByTestId(`explain-${explained[tab]}`).isVisible(), tab);
      assert.ok(found.math > 0 && found.mathml, `${tab}: ${JSON.stringify(found)}`);
      // The open folds' formulas have a size: the browser typesets MathML itself.
      assert.ok(found.laidOut > 0, `${tab}: ${JSON.stringify(found)}`);
    }
    await shot(page, `view-${tab}-en`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('accessible on a phone and by keyboard: axe-core finds no serious or critical violation in any view, no view scrolls sideways at 390 px, and the pad draws from the keyboard', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  const views = ['sample', 'edit', 'forward', 'divergence', 'score', 'vae', 'gan', 'text', 'compare', 'bench'];
  const report = {};
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    await page.setViewportSize({ width, height });
    for (const tab of views) {
      await page.getByTestId(`tab-${tab}`).click();
      await page.waitForTimeout(300);
      if (width === 1280) {
        // axe-core (npm), injected into the page; the shown view and the header are audited.
        await page.addScriptTag({ path: join(ROOT, 'node_modules/axe-core/axe.min.js') });
        const violations = await page.evaluate(async () => {
          const r = await axe.run({ exclude: [['.hidden']] }, { resultTypes: ['violations'] });
          return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
        });
        report[tab] = violations;
        assert.deepEqual(violations, [], `${tab}: axe-core`);
      } else {
        const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(sideways <= 0, `${tab} at 390 px scrolls sideways by ${sideways} px`);
        await shot(page, `view-${tab}-en-390`);
      }
    }
  }
  await writeFile(join(SHOTS, 'axe.json'), JSON.stringify(report, null, 1));
  // The drawing pad by keyboard: Space inks the cursor's pixel, Shift+arrows draw a line.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByTestId('tab-edit').click();
  await page.getByTestId('edit-clear').click();
  await page.getByTestId('edit-pad').focus();
  await page.keyboard.press('Space');
  for (let i = 0; i < 4; i++) await page.keyboard.press('Shift+ArrowRight');
  const ink = await canvasGrey(page, 'edit-canvas');
  const at = (x, y) => ink.grey[y * ink.width + x];
  assert.ok(at(14, 14) > 100 && at(18, 14) > 100, `ink at the cursor's path: ${at(14, 14)}, ${at(18, 14)}`);
  assert.equal(at(14, 4), 0, 'nowhere else');
  assert.deepEqual(errors, []);
  await page.close();
});

test('Persian: the switch lays the page out right to left, translates the labels of every view, is remembered, and samples the same digits', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  // What a reader reads in the Sample view: labels (without their controls and formulas),
  // buttons (their accessible names), headings and the sampler's options.
  const labels = () => page.evaluate(() => {
    const view = document.querySelector('[data-testid=generate]').closest('section');
    const own = (e) => {
      const c = e.cloneNode(true);
      c.querySelectorAll('select, input, output, math, [data-testid=sweep-label], [data-testid=step-counter], [data-testid=student-info]').forEach((x) => x.remove());
      return c.textContent.replace(/\s+/g, ' ').trim();
    };
    const shown = (e) => e.closest('.hidden') === null;
    return [
      ...[...view.querySelectorAll('label, h2, h3')].filter(shown).map(own),
      ...[...view.querySelectorAll('button')].filter(shown).map((b) => b.getAttribute('aria-label') ?? b.textContent.trim()),
      ...[...view.querySelectorAll('[data-testid=sampler] option, [data-testid=digit] option[value=none]')].map((o) => o.textContent.trim()),
    ].filter((t) => t !== '');
  });
  // The same for the view on show in any other tab: its headings, labels (without their
  // controls, formulas and read-outs), table headers and buttons, shown or not (the commands'
  // Copy buttons show once a view's weights have loaded, which may happen between the readings).
  const viewLabels = () => page.evaluate(() => {
    const view = document.querySelector('main > div:not(.hidden)');
    const own = (e) => {
      const c = e.cloneNode(true);
      c.querySelectorAll('select, input, output, math, button, [data-testid]').forEach((x) => x.remove());
      return c.textContent.replace(/\s+/g, ' ').trim();
    };
    return [
      ...[...view.querySelectorAll('h2, h3, label, th')].map(own),
      ...[...view.querySelectorAll('button')].map((b) => b.getAttribute('aria-label') ?? b.textContent.trim()),
    ].filter((t) => t !== '');
  });
  const tabs = ['edit', 'forward', 'divergence', 'score', 'vae', 'gan', 'text', 'compare', 'bench'];
  const settings = { digit: 7, w: 2, sampler: 'ddim', steps: 3, count: 4, seed: 5 };
  await generate(page, settings);
  const [english, before] = [await labels(), await canvasGrey(page, 'samples')];
  assert.ok(english.length >= 15, `${english.length} labels: ${english}`);
  await page.getByTestId('language').selectOption('fa');
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'fa');
  const persian = await labels();
  assert.equal(persian.length, english.length, `${persian}`);
  english.forEach((e, i) => assert.notEqual(persian[i], e, `not translated: ${e}`));
  assert.ok(persian.every((p) => /[\u0600-\u06FF]/.test(p)), `${persian}`);
  // The explanations are in Persian, their formulas still MathML.
  const explain = page.getByTestId('explain-sampling');
  assert.match(await explain.innerText(), /شبکه/);
  assert.ok(await explain.locator('math').count() > 5);
  // The same settings draw the same digits.
  await generate(page, settings);
  assert.deepEqual(await canvasGrey(page, 'samples'), before);
  await shot(page, 'view-sample-fa');
  // Remembered: a reload opens in Persian.
  await page.reload();
  await waitStatus(page, /^ready$/, 180_000);
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
  // Every other view's labels are Persian too (read here, compared with the English below;
  // nothing is run in them).
  const persianViews = {};
  for (const tab of tabs) {
    await page.getByTestId(`tab-${tab}`).click();
    persianViews[tab] = await viewLabels();
    await shot(page, `view-${tab}-fa`);
  }
  await page.getByTestId('language').selectOption('en');
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'ltr');
  for (const tab of tabs) {
    await page.getByTestId(`tab-${tab}`).click();
    const [en, fa] = [await viewLabels(), persianViews[tab]];
    assert.ok(en.length >= 4, `${tab}: ${en.length} labels: ${en}`);
    assert.equal(fa.length, en.length, `${tab}: ${fa} | ${en}`);
    // A few labels are symbols (theta0, t) and stay as they are.
    const same = en.filter((e, i) => fa[i] === e);
    assert.ok(same.length <= 0.2 * en.length, `${tab}: not translated: ${same}`);
    const persian = fa.filter((f) => /[\u0600-\u06FF]/.test(f));
    assert.ok(persian.length >= 0.8 * fa.length, `${tab}: ${fa}`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('the guidance sweep shows the default run on first open, and it is what `digitlab sample` draws now', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  await waitText(page, 'sweep-label', (t) => t.includes('shipped with the page'), 30_000);
  for (const [i, w] of ['0', '0.5', '1', '2', '4'].entries()) {
    const line = `digitlab sample --model public/weights/ddpm-cfg.json --class 3 --guidance ${w} --sampler ddim --eta 0 --steps 20 --count 4 --seed 1`;
    const report = await sameAsCommand(page, `sweep-${i}`, line, `cli-sweep-${w}.png`);
    assert.ok(report.over2 < 0.005, `sweep w = ${w} (public/sweep/w-${w}.png) vs CLI: ${JSON.stringify(report)}`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('same seed, same picture: WebGPU, CPU and the `digitlab sample` line shown under the picture agree pixel by pixel', async () => {
  const settings = { digit: 7, w: 2, sampler: 'ddim', steps: 5, count: 4, seed: 5 };
  await mkdir(SHOTS, { recursive: true });
  const png = join(SHOTS, 'cli-sample.png');
  const grids = {};
  const lines = {};
  for (const [name, query] of [['webgpu', ''], ['cpu', '?backend=cpu']]) {
    const { page } = await open(browser, url, query);
    await generate(page, settings);
    grids[name] = await canvasGrey(page, 'samples');
    lines[name] = await text(page, 'sample-command');
    await shot(page, `same-seed-${name}`);
    if (name === 'cpu') {
      // The line under the picture, run as shown (from the repository root), draws it.
      const [program, ...args] = shellWords(lines.cpu);
      assert.equal(program, 'digitlab');
      execFileSync(DIGITLAB, [...args, '--out', png], { cwd: ROOT, stdio: 'ignore' });
      grids.cli = await pngGrey(page, await readFile(png));
      // Copy puts exactly that line on the clipboard.
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      await page.getByTestId('sample-command-copy').click();
      await waitText(page, 'sample-command-copied', (t) => t === 'copied', 10_000);
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), lines.cpu);
      // The timeline shows step k of the run again: the pixels of `--frames`' xt-000k.png.
      const frames = join(SHOTS, 'cli-frames');
      execFileSync(DIGITLAB, [...args, '--out', join(SHOTS, 'cli-frames.png'), '--frames', frames], { cwd: ROOT, stdio: 'ignore' });
      await page.getByTestId('sample-timeline').fill('2');
      assert.equal(await text(page, 'sample-timeline-label'), 'step 2/5, xₜ');
      const step2 = greyDiff(await canvasGrey(page, 'samples'), await pngGrey(page, await readFile(join(frames, 'xt-0002.png'))), 'timeline step 2');
      assert.ok(step2.over2 < 0.005, `timeline step 2 vs CLI frame: ${JSON.stringify(step2)}`);
      await page.getByTestId('sample-timeline-back').click();
      assert.equal(await text(page, 'sample-timeline-label'), 'step 1/5, xₜ');
      await page.getByTestId('sample-timeline-play').click();
      await waitText(page, 'sample-timeline-label', (t) => t === 'step 5/5, xₜ', 10_000);
      assert.deepEqual(await canvasGrey(page, 'samples'), grids.cpu, 'the last step is the final grid');
    }
    await page.close();
  }
  assert.equal(lines.webgpu, lines.cpu);
  assert.equal(lines.cpu, 'digitlab sample --model public/weights/ddpm-cfg.json --class 7 --guidance 2 --sampler ddim --eta 0 --steps 5 --count 4 --seed 5');
  const report = {};
  for (const name of ['webgpu', 'cpu']) {
    report[name] = greyDiff(grids[name], grids.cli, name);
    // Float tolerance: rounding to a byte can flip a level; a few pixels may move by more.
    assert.ok(report[name].over2 < 0.005, `${name} vs CLI: ${JSON.stringify(report[name])}`);
  }
  await writeFile(join(SHOTS, 'same-seed.json'), JSON.stringify(report));
});

test('live mode: moving the guidance slider redraws the student\'s digits, the last move wins, and the picture equals `digitlab sample` of the student', async () => {
  await mkdir(SHOTS, { recursive: true });
  const cli = {};
  for (const w of ['0.5', '1.5']) {
    const png = join(SHOTS, `cli-student-w${w}.png`);
    execFileSync(DIGITLAB, ['sample', '--model', join(ROOT, 'public/weights/ddpm-student.json'), '--class', '7',
      '--guidance', w, '--count', '4', '--seed', '5', '--out', png]);
    cli[w] = await readFile(png);
  }
  for (const [name, query] of [['webgpu', ''], ['cpu', '?backend=cpu']]) {
    const { page } = await open(browser, url, query);
    await page.getByTestId('digit').selectOption('7');
    await page.getByTestId('count').fill('4');
    await page.getByTestId('seed').fill('5');
    await page.getByTestId('guidance').fill('0.5');
    const finished = async () => Number(await page.getByTestId('runs-finished').textContent());
    // Switching live on fetches the student, then draws w = 0.5 without a click.
    await page.getByTestId('live').check();
    await waitText(page, 'student-info', (t) => /ddpm-student\.bpk \(shipped\)/.test(t));
    await waitText(page, 'live-ms', (t) => /ms per redraw/.test(t));
    await waitStatus(page, /^done$/);
    const atHalf = await canvasGrey(page, 'samples');
    // Two moves in a row: the first redraw is cancelled, the second is what stays.
    const before = await finished();
    await page.getByTestId('guidance').fill('3');
    await page.getByTestId('guidance').fill('1.5');
    await waitText(page, 'runs-finished', (t) => Number(t) > before);
    await waitStatus(page, /^done$/);
    assert.equal((await text(page, 'guidance-value')).trim(), '1.5');
    const moved = await canvasGrey(page, 'samples');
    await shot(page, `live-${name}`);
    const ms = Number(/([0-9]+) ms per redraw/.exec(await text(page, 'live-ms'))[1]);
    for (const [w, grid] of [['0.5', atHalf], ['1.5', moved]]) {
      const d = greyDiff(grid, await pngGrey(page, cli[w]), `${name} w = ${w}`);
      assert.ok(d.over2 < 0.005, `${name} w = ${w} vs CLI: max ${d.max}`);
    }
    assert.ok(meanAbs(atHalf.grey, moved.grey) > 1, `${name}: moving the slider changed nothing`);
    await writeFile(join(SHOTS, `live-${name}.json`), JSON.stringify({ ms_per_redraw: ms }));
    await page.close();
  }
});

test('the divergence view shows the same numbers as `digitlab divergence`', async () => {
  const { page } = await open(browser, url, '?backend=cpu');
  await page.getByTestId('tab-divergence').click();
  const native = (eps) => JSON.parse(execFileSync(DIGITLAB, ['divergence', '--json', '--theta0', '0', '--eps', String(eps),
    '--theta-min', '1', '--theta-max', '2', '--points', '2'])).gaussian[0];
  const readout = async () => {
    const t = await text(page, 'div-readout');
    return { kl: Number(/KL = ([-0-9.e+]+)/.exec(t)[1]), js: Number(/JS = ([0-9.]+)/.exec(t)[1]), w1: Number(/W1 = ([0-9.]+)/.exec(t)[1]), text: t };
  };
  await page.getByTestId('div-theta0').fill('0');
  await page.getByTestId('div-theta').fill('1');
  for (const [logEps, eps] of [['-1', 0.1], ['0', 1], ['-3', 0.001]]) {
    await page.getByTestId('div-eps').fill(logEps);
    await page.waitForFunction((e) => document.querySelector('[data-testid=div-eps-value]').innerText === e, eps.toFixed(4));
    const [p, n] = [await readout(), native(eps)];
    assert.ok(Math.abs(p.js - n.js) < 2e-6, `eps ${eps}: page ${p.text} vs native JS ${n.js}`);
    assert.ok(Math.abs(p.kl / n.kl_g_data - 1) < 1e-3, `eps ${eps}: page KL ${p.kl} vs ${n.kl_g_data}`);
    assert.equal(p.w1, 1);
    // And against the closed form KL(p_g || p_data) = (theta - theta0)^2 / (2 eps^2).
    assert.ok(Math.abs(p.kl / (1 / (2 * eps * eps)) - 1) < 1e-3, `eps ${eps}: page KL ${p.kl}`);
  }
  assert.match((await readout()).text, /JS = 0\.693147/);
  // At eps = 1e-3 the KL curve leaves the axis: drawn clipped, and labelled so.
  assert.equal(await page.getByTestId('div-values').getAttribute('data-clipped'), 'true');
  assert.match(await page.getByTestId('div-values').textContent(), /clipped: values beyond the axis/);
  assert.match((await readout()).text, /Disjoint supports: KL = infinite/);
  await shot(page, 'divergence');
  await page.close();
});

test('the live duel: the saturating GAN stalls far from theta0, the WGANs reach it', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  await page.getByTestId('tab-divergence').click();
  // The defaults: theta0 = 0, start theta = 3, eps = 0.05.
  assert.equal(await text(page, 'div-theta-value'), '3.00');
  assert.equal(await text(page, 'div-eps-value'), '0.0500');
  // The duel trains in the toys' worker (started by this first Step): its answer comes back.
  await page.getByTestId('duel-step').click();
  await waitText(page, 'duel-iteration', (t) => t === '1');
  await page.getByTestId('duel-reset').click();
  assert.equal(await text(page, 'duel-iteration'), '0');
  const duel = async (objective, limit) => {
    await page.getByTestId('duel-objective').selectOption(objective);
    await page.getByTestId('duel-limit').fill(String(limit));
    const started = Date.now();
    await page.getByTestId('duel-play').click();
    await page.waitForFunction((n) => document.querySelector('[data-testid=duel-iteration]').innerText === String(n)
      && document.querySelector('[data-testid=duel-state]').innerText === 'paused', limit, { timeout: 180_000 });
    const seconds = (Date.now() - started) / 1000;
    const r = { objective, theta: Number(await text(page, 'duel-theta')), grad: Number(await text(page, 'duel-grad')), seconds };
    console.log(`# duel ${JSON.stringify(r)}`);
    return r;
  };
  const gan = await duel('minimax', 150);
  assert.ok(gan.theta > 2.5, `the saturating GAN's theta moved to ${gan.theta}`);
  assert.ok(gan.grad < 1e-6, `its gradient is still ${gan.grad}`);
  // The page runs the same code as `digitlab duel` (floating-point sums may differ in the last bits).
  const native = JSON.parse(execFileSync(DIGITLAB, ['duel', '--json', '--objective', 'minimax', '--iterations', '150'])).reports.at(-1);
  assert.ok(Math.abs(native.theta - gan.theta) < 1e-3, `page ${gan.theta} vs native ${native.theta}`);
  await shot(page, 'duel-minimax');
  for (const objective of ['wgan-lp', 'wgan-clip']) {
    const w = await duel(objective, 300);
    assert.ok(Math.abs(w.theta) < 0.1, `${objective} ended at theta = ${w.theta}`);
  }
  await shot(page, 'duel-wgan');
  await page.getByTestId('duel-lr-g').fill('-1');
  assert.match(await text(page, 'duel-message'), /learning rate must be a number > 0/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the NCSN toy: a score network trained in the page; annealed Langevin recovers the mode weights, plain Langevin does not', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  await page.getByTestId('tab-score').click();
  await page.getByTestId('score-particles').fill('500');
  let started = Date.now();
  await page.getByTestId('score-train').click();
  await page.waitForFunction(() => /^step 1500\/1500/.test(document.querySelector('[data-testid=score-train-progress]').innerText)
    && document.querySelector('[data-testid=score-state]').innerText === 'idle', null, { timeout: 300_000 });
  console.log(`# score training: ${await text(page, 'score-train-progress')} (${(Date.now() - started) / 1000} s)`);
  const runTo = async (kind) => {
    await page.getByTestId('score-kind').selectOption(kind);
    await page.getByTestId('score-reset').click();
    assert.match(await text(page, 'score-progress'), /^level 0\/10 · step 0\/100/);
    started = Date.now();
    await page.getByTestId('score-play').click();
    await page.waitForFunction(() => /update 1000\/1000$/.test(document.querySelector('[data-testid=score-progress]').innerText)
      && document.querySelector('[data-testid=score-state]').innerText === 'idle', null, { timeout: 300_000 });
    const f = JSON.parse(await text(page, 'score-fractions'));
    console.log(`# score ${kind}: fractions ${JSON.stringify(f)} (${(Date.now() - started) / 1000} s)`);
    return f;
  };
  const annealed = await runTo('annealed');
  assert.match(await text(page, 'score-progress'), /^level 10\/10 · step 100\/100 · sigma = 1\.000/);
  assert.ok(Math.abs(annealed[0] - 0.2) < 0.07, `annealed: ${annealed}`);
  await shot(page, 'score-annealed');
  const plain = await runTo('plain');
  assert.ok(Math.abs(plain[0] - 0.2) > 0.15, `plain: ${plain}`);
  await shot(page, 'score-plain');
  await page.getByTestId('score-sigma-min').fill('30');
  await page.getByTestId('score-reset').click();
  assert.match(await text(page, 'score-message'), /sigma_min \(30\) must be below sigma_max/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('NCSN on MNIST: the shipped score network samples in the page with its level counter, and its eval table shows', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  await page.getByTestId('tab-score').click();
  await page.waitForFunction(() => /ncsn\.bpk \(shipped\)/.test(document.querySelector('[data-testid=ncsn-info]').innerText), null, { timeout: 120_000 });
  // The eval table from the card: 3, 40 and 80 levels at equal network calls, and more.
  const rows = await page.getByTestId('ncsn-table').locator('tr').count();
  assert.ok(rows >= 4, `the table has ${rows - 1} rows`);
  await page.getByTestId('ncsn-levels').selectOption('3');
  await page.getByTestId('ncsn-budget').selectOption('calls');
  await page.getByTestId('ncsn-amount').fill('6');
  await page.getByTestId('ncsn-count').fill('2');
  await page.getByTestId('ncsn-digit').selectOption('3');
  await run(page, 'ncsn-generate');
  assert.match(await text(page, 'ncsn-counter'), /^level 3\/3 · σ = 0\.0200 · call 7\/7 \(denoising step\)$/);
  assert.equal((await text(page, 'ncsn-predictions')).split(',').length, 2);
  await shot(page, 'ncsn-mnist');
  // The line under the grid draws the same digits natively.
  const line = await text(page, 'ncsn-command');
  assert.equal(line, 'digitlab sample ncsn --model public/weights/ncsn.json --class 3 --guidance 1 --levels 3 --steps-per-level 2 --step-size 0.002 --sigma-max 2 --count 2 --seed 1');
  const report = await sameAsCommand(page, 'ncsn-samples', line, 'cli-ncsn.png');
  assert.ok(report.over2 < 0.005, `NCSN page vs CLI: ${JSON.stringify(report)}`);
  await page.getByTestId('ncsn-amount').fill('2');
  await page.getByTestId('ncsn-generate').click();
  await waitStatus(page, /^error: network calls must be a whole number from 3/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the bench view reports ms per UNet call and per grid', async () => {
  const { page } = await open(browser, url, '?bench=1');
  await page.getByTestId('bench-steps').fill('2');
  await run(page, 'bench-run');
  const r = JSON.parse(await page.getByTestId('bench-result').textContent());
  await shot(page, 'bench');
  assert.ok(r.ms_per_unet_call > 0 && r.ms_per_grid > 0, JSON.stringify(r));
  assert.match(r.backend, /WebGPU/);
  await page.close();
});

/// Waits in real time until the text of `testid` satisfies `ok`, failing on a panic.
/// The words of a command line the page shows (`digitlab_ui::command::Command::to_shell`:
/// plain words, or single-quoted ones with `'\\''` for a quote).
function shellWords(line) {
  return [...line.matchAll(/(?:'((?:[^']|'\\'')*)'|(\S+))/g)].map((m) => m[1] !== undefined ? m[1].replaceAll("'\\''", "'") : m[2]);
}

/// Runs a command line the page shows (from the repository root, writing `png` under
/// target/browser) and compares its picture with the canvas `testid`: the largest grey
/// difference and the share of pixels off by more than 2 levels.
async function sameAsCommand(page, testid, line, png) {
  const [program, ...args] = shellWords(line);
  assert.equal(program, 'digitlab');
  await mkdir(SHOTS, { recursive: true });
  execFileSync(DIGITLAB, [...args, '--out', join(SHOTS, png)], { cwd: ROOT, stdio: 'ignore' });
  return greyDiff(await canvasGrey(page, testid), await pngGrey(page, await readFile(join(SHOTS, png))), testid);
}

/// Two grey pictures of the same size (asserted): their largest difference and the share of
/// pixels off by more than 2 levels (float rounding to a byte can flip a level).
function greyDiff(a, b, what) {
  assert.deepEqual([a.width, a.height], [b.width, b.height], `${what}: grid size`);
  const d = a.grey.map((v, i) => Math.abs(v - b.grey[i]));
  return { max: Math.max(...d), over2: d.filter((x) => x > 2).length / d.length };
}

async function waitText(page, testid, ok, timeout = 240_000) {
  const start = Date.now();
  for (;;) {
    const t = (await page.getByTestId(testid).textContent()) ?? '';
    if (ok(t)) return t;
    const panic = await page.getByTestId('panic').innerText().catch(() => '');
    if (panic) throw new Error(`page panicked: ${panic}`);
    if (Date.now() - start > timeout) throw new Error(`timed out waiting on ${testid}, last: ${t}`);
    await page.waitForTimeout(200);
  }
}

/// The mean confidence in a summary line "... (mean confidence 0.83)".
const meanConfidence = (t) => Number((/mean confidence ([0-9.]+)/.exec(t) ?? [])[1]);

const meanAbs = (a, b) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

/// The 28x28 cell `i` of a one-row strip's grey levels (2-pixel gutters).
function cell(strip, i) {
  const out = [];
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) out.push(strip.grey[(2 + y) * strip.width + 2 + i * 30 + x]);
  }
  return out;
}

/// The page's grid of `testid` against `digitlab sample --model <card> --count 16 --seed 1`.
/// The line under the grid `testid` samples `card` (16 digits, seed 1) and draws that grid.
async function sameAsCli(page, testid, card, name) {
  const line = await text(page, `${testid}-command`);
  assert.equal(line, `digitlab sample --model public/weights/${card} --count 16 --seed 1`);
  const report = await sameAsCommand(page, testid, line, `cli-${name}.png`);
  assert.ok(report.over2 < 0.005, `${name} vs CLI: ${JSON.stringify(report)}`);
}

test('the VAE view: samples equal `digitlab sample`, reconstructions resemble their digits, the 2-D plane decodes a click', async () => {
  const { page, errors } = await open(browser, url);
  await page.getByTestId('tab-vae').click();
  await waitText(page, 'vae-scatter', () => true);
  await page.waitForFunction(() => document.querySelector('[data-testid="vae-scatter"]').dataset.points === '100', null, { timeout: 240_000 });
  await waitText(page, 'vae-done', (t) => Number(t) >= 5);
  assert.equal(await text(page, 'vae-error'), '');
  assert.match(await text(page, 'vae-info'), /vae\.bpk \(latent 16\)/);
  await sameAsCli(page, 'vae-samples', 'vae.json', 'vae');
  // The classifier, run in the page, reads the samples with confidence.
  await waitText(page, 'vae-predictions', (t) => t.split(',').length === 16);
  assert.ok(meanConfidence(await text(page, 'vae-summary')) >= 0.6, await text(page, 'vae-summary'));
  // Each reconstruction is closer to its own digit than to the others.
  const [orig, rec] = [await canvasGrey(page, 'vae-originals'), await canvasGrey(page, 'vae-recon')];
  for (let i = 0; i < 10; i++) {
    const own = meanAbs(cell(rec, i), cell(orig, i));
    const others = [...Array(10).keys()].filter((j) => j !== i).map((j) => meanAbs(cell(rec, i), cell(orig, j)));
    assert.ok(own < Math.min(...others), `digit ${i}: own ${own.toFixed(1)}, nearest other ${Math.min(...others).toFixed(1)}`);
  }
  // The interpolation strip starts near the first digit's reconstruction and ends near the second's.
  const strip = await canvasGrey(page, 'vae-strip');
  assert.ok(meanAbs(cell(strip, 0), cell(orig, 1)) < meanAbs(cell(strip, 8), cell(orig, 1)));
  // A click on the 2-D plane decodes that point.
  await page.getByTestId('vae-scatter').click({ position: { x: 75, y: 75 } });
  await waitText(page, 'vae-picked-z', (t) => t.startsWith('z = (-1.50, 1.50)'));
  await waitText(page, 'vae-done', (t) => Number(t) >= 6);
  const picked = await canvasGrey(page, 'vae-picked');
  assert.ok(Math.max(...picked.grey) > 150, 'the decoded point has ink');
  await shot(page, 'vae');
  // A VAE card dropped on the Weights box takes the place of the shipped one of its latent size.
  await page.getByTestId('weights-file').setInputFiles(['vae-2d.json', 'vae-2d.bpk'].map((f) => join(ROOT, 'public/weights', f)));
  await waitText(page, 'weights-message', (t) => t !== '');
  assert.match(await text(page, 'weights-message'), /^loaded your model in place of `vae-2d`/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the GAN view: DCGAN, WGAN-GP and WGAN-SN from the same z equal `digitlab sample`, with their training curves', async () => {
  const { page, errors } = await open(browser, url);
  await page.getByTestId('tab-gan').click();
  await waitText(page, 'gan-done', (t) => Number(t) >= 2);
  assert.equal(await text(page, 'gan-error'), '');
  await sameAsCli(page, 'gan-dcgan', 'dcgan.json', 'dcgan');
  await sameAsCli(page, 'gan-wgan-gp', 'wgan-gp.json', 'wgan-gp');
  await sameAsCli(page, 'gan-wgan', 'wgan-sn.json', 'wgan-sn');
  for (const id of ['gan-dcgan', 'gan-wgan-gp', 'gan-wgan']) {
    await waitText(page, `${id}-predictions`, (t) => t.split(',').length === 16);
    assert.ok(meanConfidence(await text(page, `${id}-summary`)) >= 0.6, await text(page, `${id}-summary`));
  }
  // The walk's ends are the grid's samples 0 and 1.
  const [grid, strip] = [await canvasGrey(page, 'gan-dcgan'), await canvasGrey(page, 'gan-dcgan-strip')];
  const gridCell = (g, i) => { const out = []; for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out.push(g.grey[(2 + y) * g.width + 2 + i * 30 + x]); return out; };
  assert.ok(meanAbs(cell(strip, 0), gridCell(grid, 0)) < 2 && meanAbs(cell(strip, 8), gridCell(grid, 1)) < 2);
  for (const id of ['gan-dcgan-curve', 'gan-wgan-curve']) {
    assert.ok(await page.getByTestId(id).locator('polyline').count() >= 1, `${id} has a curve`);
  }
  assert.ok(await page.getByTestId('gan-wgan-curve').locator('polyline').count() >= 2, 'both WGANs have a W curve');
  await shot(page, 'gan');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Edit view: a stroke draws and Undo takes it back; SDEdit and inpainting of a held-out digit equal `digitlab edit` / `digitlab inpaint`, the kept pixels exactly, and so do the commands it shows with the drawing and mask it saves', async () => {
  const { page, errors } = await open(browser, url, '?backend=cpu');
  await page.getByTestId('tab-edit').click();
  // A vertical stroke with the mouse (pointer events) down the middle of the pad.
  const pad = await page.getByTestId('edit-pad').boundingBox();
  await page.mouse.move(pad.x + pad.width * 0.5, pad.y + pad.height * 0.2);
  await page.mouse.down();
  await page.mouse.move(pad.x + pad.width * 0.5, pad.y + pad.height * 0.8, { steps: 12 });
  await page.mouse.up();
  let ink = await canvasGrey(page, 'edit-canvas');
  assert.equal(ink.grey[14 * 28 + 14], 255, 'the stroke inked the middle of the pad');
  assert.ok(ink.grey.filter((v) => v === 255).length >= 15, 'a stroke, not a dot');
  assert.equal(ink.grey[14 * 28 + 3], 0, 'and nothing far from it');
  await page.getByTestId('edit-undo').click();
  ink = await canvasGrey(page, 'edit-canvas');
  assert.ok(ink.grey.every((v) => v === 0), 'Undo takes the stroke back');

  // SDEdit of held-out digit #4 as its own class, against the CLI from the pad's own PNG.
  await page.getByTestId('edit-from-index').fill('4');
  await page.getByTestId('edit-from-held-out').click();
  await mkdir(SHOTS, { recursive: true });
  const pngOf = async (testid) => Buffer.from((await page.getByTestId(testid).evaluate((c) => c.toDataURL('image/png'))).split(',')[1], 'base64');
  const input = join(SHOTS, 'edit-input.png');
  await writeFile(input, await pngOf('edit-canvas'));
  const cls = await page.getByTestId('edit-class').inputValue();
  assert.match(cls, /^[0-9]$/, 'the held-out digit set its class');
  for (const [id, v] of [['edit-steps', '5'], ['edit-count', '4'], ['edit-seed', '2']]) await page.getByTestId(id).fill(v);
  await run(page, 'edit-run');
  assert.equal((await text(page, 'edit-counter')).trim(), '3/3', 'strength 0.6 of 5 steps runs 3');
  const cliSame = async (args, name) => {
    const png = join(SHOTS, `cli-${name}.png`);
    execFileSync(DIGITLAB, [...args, '--input', input, '--class', cls, '--steps', '5', '--count', '4', '--seed', '2', '--out', png]);
    const d = greyDiff(await canvasGrey(page, 'edit-output'), await pngGrey(page, await readFile(png)), name);
    assert.ok(d.over2 < 0.005, `${name} vs CLI: max ${d.max}`);
  };
  await cliSame(['edit', '--strength', '0.6'], 'edit');
  await waitText(page, 'edit-predictions', (t) => t.split(',').length === 4);
  // The line under the result names the drawing as Save drawing writes it, and redraws it.
  const saved = async (testid, name) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testid).click()]);
    assert.equal(download.suggestedFilename(), name);
    const path = join(SHOTS, `saved-${name}`);
    await download.saveAs(path);
    return path;
  };
  const drawing = await saved('edit-save-drawing', 'drawing.png');
  const shown = await text(page, 'edit-command');
  assert.equal(shown, `digitlab edit --model public/weights/ddpm-cfg.json --input drawing.png --strength 0.6 --class ${cls} --guidance 2 --sampler ddim --eta 0 --steps 5 --count 4 --seed 2`);
  let d = await sameAsCommand(page, 'edit-output', shown.replace('drawing.png', drawing), 'cli-edit-shown.png');
  assert.ok(d.over2 < 0.005, `the shown edit command: max ${d.max}`);

  // Inpainting the lower half, with resampling: the upper half of every result is the input's.
  await page.getByTestId('edit-mode').selectOption('inpaint');
  await page.getByTestId('edit-mask-lower').click();
  for (const [id, v] of [['edit-resample', '2'], ['edit-jump', '2']]) await page.getByTestId(id).fill(v);
  await run(page, 'edit-run');
  assert.equal((await text(page, 'edit-counter')).trim(), '9/9', '5 steps and 2 x 2 resampled');
  const [out, digit] = [await canvasGrey(page, 'edit-output'), await canvasGrey(page, 'edit-canvas')];
  let redrawn = 0;
  for (let k = 0; k < 4; k++) {
    const [gx, gy] = [2 + (k % 2) * 30, 2 + Math.floor(k / 2) * 30];
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const [got, kept] = [out.grey[(gy + y) * out.width + gx + x], digit.grey[y * 28 + x]];
        if (y < 14) assert.equal(got, kept, `kept pixel ${x},${y} of result ${k}`);
        else if (got !== kept) redrawn++;
      }
    }
  }
  assert.ok(redrawn > 50, `the lower halves were redrawn (${redrawn} pixels changed)`);
  const mask = join(SHOTS, 'edit-mask.png');
  await writeFile(mask, Buffer.from((await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 28; c.height = 28;
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 28, 28);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 14, 28, 14);
    return c.toDataURL('image/png');
  })).split(',')[1], 'base64'));
  await cliSame(['inpaint', '--mask', mask, '--resample', '2', '--jump', '2'], 'inpaint');
  // The shown line, with the drawing and the mask as the page saves them.
  const [drawn, masked] = [await saved('edit-save-drawing', 'drawing.png'), await saved('edit-save-mask', 'mask.png')];
  const inpaintLine = await text(page, 'edit-command');
  assert.match(inpaintLine, /^digitlab inpaint --model \S+ --input drawing\.png --mask mask\.png --resample 2 --jump 2 --class \d --guidance 2 /);
  d = await sameAsCommand(page, 'edit-output', inpaintLine.replace('drawing.png', drawn).replace('mask.png', masked), 'cli-inpaint-shown.png');
  assert.ok(d.over2 < 0.005, `the shown inpaint command: max ${d.max}`);
  await shot(page, 'edit');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the comparison view shows every model and measures the browser cost of the VAE and GANs', async () => {
  const { page, errors } = await open(browser, url);
  await page.getByTestId('tab-compare').click();
  await waitText(page, 'compare-info', (t) => t.startsWith('digitlab compare'));
  for (const stem of ['ddpm-cfg', 'ncsn', 'vae', 'vae-2d', 'dcgan', 'wgan-gp', 'wgan-sn']) {
    assert.equal(await page.getByTestId(`compare-row-${stem}`).count(), 1, stem);
  }
  await run(page, 'compare-measure');
  for (const stem of ['vae', 'dcgan', 'wgan-gp', 'wgan-sn']) {
    const v = Number(await text(page, `compare-browser-${stem}`));
    assert.ok(v > 0, `${stem}: ${v}`);
  }
  assert.match(await text(page, 'compare-browser-ddpm-cfg'), /≈ 50 calls/);
  const cells = {};
  for (const stem of ['ddpm-cfg', 'ncsn', 'vae', 'vae-2d', 'dcgan', 'wgan-gp', 'wgan-sn']) cells[stem] = await text(page, `compare-browser-${stem}`);
  await writeFile(join(SHOTS, 'compare-browser.json'), JSON.stringify({ backend: await text(page, 'backend'), cells }, null, 1));
  await shot(page, 'compare');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a lost WebGPU device: the run fails with a message, the model worker moves to the CPU backend and the next run works', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Keep a handle on the device the model worker's wgpu asks for, so the test can destroy it
  // (as a GPU reset or a driver crash would). The worker asks only after its wasm has been
  // fetched and compiled (seconds), long after this patch lands; the count below checks it.
  page.on('worker', (worker) => worker.evaluate(() => {
    const request = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (...args) {
      const device = await request.apply(this, args);
      (self.__devices ||= []).push(device);
      return device;
    };
  }).catch(() => {}));
  await page.goto(url);
  await waitStatus(page, /^ready$/, 180_000);
  assert.match(await text(page, 'backend'), /WebGPU/);
  const worker = page.workers().find((w) => w.url().includes('digitlab-worker'));
  assert.ok(worker, `the model worker runs (workers: ${page.workers().map((w) => w.url())})`);
  assert.equal(await worker.evaluate(() => self.__devices?.length ?? 0), 1);
  await worker.evaluate(() => self.__devices.forEach((d) => d.destroy()));
  await generate(page, { digit: 3, w: 2, steps: 3, count: 2, seed: 1 }).catch(() => {});
  assert.match(await text(page, 'status'), /^error: WebGPU failed .*switched to the CPU backend$/);
  assert.match(await text(page, 'notice'), /switched to the CPU backend/);
  assert.match(await text(page, 'backend'), /^CPU .*WebGPU failed during sampling/);
  await generate(page, { digit: 3, w: 2, steps: 3, count: 2, seed: 1 });
  assert.equal((await text(page, 'step-counter')).trim(), '3/3');
  assert.equal(await page.getByTestId('panic').innerText(), '');
  await shot(page, 'lost-device');
  assert.deepEqual(errors, []);
  await page.close();
});

test('sampling runs in the model worker: during a 16-digit run no task of the page\'s thread takes over 50 ms, on the CPU backend and on WebGPU', async () => {
  const measured = {};
  for (const [name, query, steps] of [['cpu', '?backend=cpu', 4], ['webgpu', '', 2]]) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url + query);
    // When the controls are on screen, counted from the start of navigation.
    await page.getByTestId('generate').waitFor();
    const controls = await page.evaluate(() => performance.now());
    await waitStatus(page, /^ready$/, 180_000);
    await page.getByTestId('count').fill('16');
    await page.getByTestId('steps').fill(String(steps));
    await page.getByTestId('seed').fill('2');
    // Long tasks of the page's thread from here to the end of the run (a click is a task too).
    await page.evaluate(() => {
      window.__long = [];
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); })
        .observe({ type: 'longtask' });
    });
    const t0 = Date.now();
    await run(page, 'generate');
    const runMs = Date.now() - t0;
    assert.equal((await text(page, 'step-counter')).trim(), `${steps}/${steps}`);
    const labels = await labelsOf(page);
    assert.equal(labels.length, 16);
    const long = await page.evaluate(() => window.__long);
    measured[name] = { controls_visible_ms: Math.round(controls), run_ms: runMs, steps, long_tasks_ms: long.map(Math.round) };
    assert.ok(long.every((ms) => ms <= 50), `${name}: main-thread tasks over 50 ms during the run: ${long}`);
    assert.deepEqual(errors, []);
    await page.close();
  }
  await mkdir(SHOTS, { recursive: true });
  await writeFile(join(SHOTS, 'main-thread.json'), JSON.stringify(measured, null, 1));
});

/// The Text view's grid against `digitlab sample --prompt` with the same settings.
/// The line under the Text view's grid is `expected`, and draws the same digits natively.
async function sameAsCliText(page, expected) {
  const line = await text(page, 'text-command');
  assert.equal(line, expected);
  const report = await sameAsCommand(page, 'text-grid', line, `cli-${shellWords(line)[3].split('/').at(-1)}.png`);
  assert.ok(report.over2 < 0.005, `${line} vs the page: ${JSON.stringify(report)}`);
}

test('the Text view: prompts give the CLI\'s digits in latent and pixel space, with latent channels, attention maps and measured verdicts', async () => {
  const { page, errors } = await open(browser, url);
  await page.getByTestId('tab-text').click();
  await waitText(page, 'text-info', (t) => (t.match(/\.bpk: denoises/g) ?? []).length === 3);
  await waitText(page, 'text-tokens', (t) => t === '[CLS] · a · thick · seven');
  // The latent model (the default), 10 DDIM steps, 4 digits, w = 3.
  let before = Number(await text(page, 'runs-finished'));
  await page.getByTestId('text-generate').click();
  await waitText(page, 'runs-finished', (t) => Number(t) > before);
  assert.equal(await text(page, 'status'), 'done');
  assert.equal(await text(page, 'text-counter'), '10/10');
  await sameAsCliText(page, "digitlab sample --model public/weights/text-latent.json --prompt 'a thick seven' --guidance 3 --sampler ddim --eta 0 --steps 10 --count 4 --seed 1");
  const verdicts = await page.getByTestId('text-verdicts').locator('li').allTextContents();
  assert.equal(verdicts.length, 4);
  // Each digit is classified and measured in the captions' words (what it is, not what was asked).
  for (const v of verdicts) assert.match(v, /^#\d: the classifier reads \d \(\d+ %\); measured as (small|medium|large), (thin|regular|thick), (left-slanted|upright|right-slanted) \S+$/);
  const channels = await canvasGrey(page, 'text-channels');
  assert.ok(Math.max(...channels.grey) - Math.min(...channels.grey) > 100, 'the latent channels are drawn');
  // The map of "seven" (token 3) is drawn and named.
  await page.getByTestId('text-token').selectOption('3');
  await waitText(page, 'text-attention-note', (t) => t.includes('"seven"'));
  const map = await canvasGrey(page, 'text-attention');
  assert.ok(Math.max(...map.grey) - Math.min(...map.grey) > 100, 'the attention map varies over the image');
  await shot(page, 'text-latent');
  // The pixel model with a negative prompt, 3 steps.
  await page.getByTestId('text-space').selectOption('text-pixel');
  await page.getByTestId('text-negative').fill('thin');
  await page.getByTestId('text-steps').fill('3');
  before = Number(await text(page, 'runs-finished'));
  await page.getByTestId('text-generate').click();
  await waitText(page, 'runs-finished', (t) => Number(t) > before);
  assert.equal(await text(page, 'status'), 'done');
  await sameAsCliText(page, "digitlab sample --model public/weights/text-pixel.json --prompt 'a thick seven' --negative-prompt thin --guidance 3 --sampler ddim --eta 0 --steps 3 --count 4 --seed 1");
  // FiLM has no attention map, and says so.
  await page.getByTestId('text-space').selectOption('text-latent-film');
  before = Number(await text(page, 'runs-finished'));
  await page.getByTestId('text-generate').click();
  await waitText(page, 'runs-finished', (t) => Number(t) > before);
  assert.match(await text(page, 'text-attention-note'), /no attention maps: FiLM/);
  // Too long a prompt is refused with a message; the page keeps working.
  await page.getByTestId('text-prompt').fill('thick '.repeat(20));
  await page.getByTestId('text-generate').click();
  await waitText(page, 'status', (t) => t.startsWith('error'));
  assert.match(await text(page, 'status'), /at most 12 fit/);
  assert.deepEqual(errors, []);
  await page.close();
});
