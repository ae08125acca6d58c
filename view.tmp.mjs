import { chromium } from 'playwright-core';
const files = process.argv.slice(2);
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless=new','--no-sandbox'] });
const p = await b.newPage();
const imgs = files.map(f => `<figure style="display:inline-block;margin:4px"><img src="file://${f}" style="width:240px;image-rendering:pixelated"><figcaption style="font:12px sans-serif">${f.split('/').pop()}</figcaption></figure>`).join('');
await p.setContent(`<html><body style="margin:0;background:#fff">${imgs}</body></html>`);
await p.waitForTimeout(300);
await p.screenshot({ path: '/tmp/view.png', fullPage: true });
await b.close();
