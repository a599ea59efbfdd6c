// What every browser script shares: Debian chromium through playwright-core, one page, a
// screenshot per step (and one of a failure), and page errors failing the run.
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

export async function launch(shots) {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The Content-Security-Policy forbids inline script and eval: anything it blocks would be
  // a behaviour silently lost, so a violation fails the run like a page error.
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  // Runs one step: "ok   name" and its screenshot, or "FAIL name" and the run ends.
  const step = async (name, fn) => {
    try {
      await fn();
      await shot(name);
      console.log(`ok   ${name}`);
    } catch (e) {
      await shot(`${name}-failed`).catch(() => {});
      console.error(`FAIL ${name}: ${e.message}`);
      await browser.close();
      process.exit(1);
    }
  };
  // Closes the browser; page errors seen on the way fail the run.
  const finish = async () => {
    await browser.close();
    if (errors.length) {
      console.error(`FAIL page errors: ${errors.join('; ')}`);
      process.exit(1);
    }
  };
  return { browser, page, step, finish };
}
