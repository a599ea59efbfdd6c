// The dashboard in a real browser (Debian chromium via playwright-core): home, a batch,
// search, window, theme, load more, the anomaly list, feedback that survives a reload, and an
// anomaly expanded in a dialog.
// Run by tests/it/browser.rs against a seeded server: node dashboard.mjs <base-url> <shots-dir>
import { launch } from './harness.mjs';

const [base, shots] = process.argv.slice(2);
const { browser, page, step, finish } = await launch(shots);
const cards = () => page.locator('#cards article.chart-card').count();

await step('home', async () => {
  await page.goto(`${base}/`);
  await page.locator('#batches a[href="/batch/web"]').waitFor();
  // What needs attention: the metric anomalous now comes first, with a sparkline.
  const first = await page.locator('#attention li.attention').first().textContent();
  if (!first.includes('m03') || !first.includes('anomalous now')) throw new Error(`attention starts with: ${first}`);
  if (await page.locator('#attention svg.sparkline').count() !== 3) throw new Error('a sparkline per anomalous metric');
});

await step('batch', async () => {
  await page.click('#batches a[href="/batch/web"]');
  await page.waitForURL(/\/batch\/web$/);
  // The first ten cards load lazily through htmx.
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 10);
  if (await page.locator('#cards svg.chart .value-line').count() !== 10) throw new Error('charts missing');
});

await step('batch-picker', async () => {
  // The batch selector navigates (app.js, no inline handler under the CSP).
  const other = await page.locator('select[aria-label=Batch] option:not([selected])').first().getAttribute('value');
  await page.selectOption('select[aria-label=Batch]', other);
  await page.waitForURL((u) => u.pathname === other.split('?')[0]);
  await page.goBack();
  await page.waitForURL(/\/batch\/web$/);
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 10);
});

await step('load-more', async () => {
  await page.click('text=/Load next 5 of 5/');
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 15);
});

await step('search', async () => {
  await page.fill('input[name=search]', '^M0[12]$');
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 2);
  if (!page.url().includes('search=')) throw new Error(`search not in the URL: ${page.url()}`);
  await page.fill('input[name=search]', '(');
  await page.locator('#cards .error', { hasText: 'Invalid search pattern' }).waitFor();
  await page.fill('input[name=search]', '');
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 10);
});

await step('window', async () => {
  await page.fill('input[name=window]', '1h');
  await page.press('input[name=window]', 'Enter');
  await page.locator('#cards', { hasText: 'window 1h' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length > 0);
});

await step('dark', async () => {
  // The toggle flips the theme, and the choice holds on the next page (the admin's included).
  const theme = () => page.evaluate(() => document.documentElement.getAttribute('data-theme'));
  await page.click('#theme-toggle');
  if (await theme() !== 'dark') throw new Error('the toggle did not switch to dark');
  if (await page.getAttribute('#theme-toggle', 'aria-pressed') !== 'true') throw new Error('the toggle does not show its state');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (bg === 'rgb(246, 247, 249)') throw new Error('still the light background');
  await page.goto(`${base}/admin/login`);
  if (await theme() !== 'dark') throw new Error('the admin panel forgot the dark theme');
  await page.goto(`${base}/batch/web?window=1h`);
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length > 0);
  if (await theme() !== 'dark') throw new Error('dark mode was lost on navigation');
  // Back to light: as the OS here is light, the choice is forgotten and the OS rules again.
  await page.click('#theme-toggle');
  if (await theme() !== null) throw new Error('choosing the OS theme should forget the choice');
  await page.emulateMedia({ colorScheme: 'dark' });
  const osDark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (osDark === 'rgb(246, 247, 249)') throw new Error('the OS dark setting is ignored');
  await page.emulateMedia({ colorScheme: 'light' });
});

await step('expand', async () => {
  await page.locator('#cards article.chart-card button[title=Expand]').first().click();
  await page.locator('#modal[open] svg.chart').waitFor();
  await page.click('#modal button:has-text("Close")');
});

await step('anomalies', async () => {
  await page.goto(`${base}/batch/web/anomalies`);
  await page.locator('text=Showing 5 of 5 in all stored history').waitFor();
  const up = page.locator('form.feedback').first().locator('button[title="Real anomaly"]');
  await up.click();
  await page.locator('form.feedback').first().locator('button.active[title="Real anomaly"]').waitFor();
  await page.reload();
  await page.locator('form.feedback').first().locator('button.active[title="Real anomaly"]').waitFor();
  // Clicking the active thumb clears it, and that survives a reload too.
  await page.locator('form.feedback').first().locator('button[title="Real anomaly"]').click();
  await page.waitForFunction(() => !document.querySelector('form.feedback button.active'));
  await page.reload();
  if (await page.locator('form.feedback button.active').count() !== 0) throw new Error('cleared feedback came back');
});

await step('anomaly-expand', async () => {
  // ⤢ opens the anomaly's chart in a dialog; feedback there also updates the row behind it.
  await page.locator('ol.anomaly-list button[title=Expand]').first().click();
  await page.locator('#modal[open] .expanded svg.chart').waitFor();
  if (await page.locator('#modal .expanded svg.chart .marker').count() !== 1) throw new Error('more than the one anomaly is marked');
  await page.locator('#modal form.feedback button[title="Real anomaly"]').click();
  await page.locator('#modal form.feedback button.active[title="Real anomaly"]').waitFor();
});

await step('anomaly-feedback-in-row', async () => {
  await page.click('#modal button:has-text("Close")');
  await page.locator('ol.anomaly-list form.feedback').first().locator('button.active[title="Real anomaly"]').waitFor();
  await page.locator('ol.anomaly-list form.feedback').first().locator('button[title="Real anomaly"]').click();
  await page.waitForFunction(() => !document.querySelector('ol.anomaly-list form.feedback button.active'));
});

await step('phone', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/batch/web?columns=2`);
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 10);
  const layout = await page.evaluate(() => {
    const cards = [...document.querySelectorAll('#cards article.chart-card')];
    return {
      oneColumn: cards.every((c) => c.getBoundingClientRect().left === cards[0].getBoundingClientRect().left),
    };
  });
  if (!layout.oneColumn) throw new Error('charts are not in one column on a phone');
});

// Every page at a phone's and a desktop's width, light and dark: nothing wider than the
// screen, axis labels that can be read, and (on the phone) targets a finger can hit. The
// screenshots are what a reviewer looks at.
const pages = [
  ['home', '/'],
  ['batch', '/batch/web'],
  ['metric', '/batch/web/metric/spiky'],
  ['anomalies', '/batch/web/anomalies'],
  ['not-found', '/batch/nope'],
  ['admin-login', '/admin/login'],
];
for (const [width, height] of [[390, 844], [1440, 900]]) {
  for (const scheme of ['light', 'dark']) {
    await step(`layout-${width}-${scheme}`, async () => {
      await page.setViewportSize({ width, height });
      await page.emulateMedia({ colorScheme: scheme });
      for (const [name, path] of pages) {
        await page.goto(`${base}${path}`);
        if (name === 'batch') {
          await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 10);
        }
        const found = await page.evaluate((phone) => {
          const problems = [];
          const overflow = document.scrollingElement.scrollWidth - window.innerWidth;
          if (overflow > 1) {
            const wide = [...document.querySelectorAll('body *')]
              .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
              .slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className.baseVal ?? e.className}`);
            problems.push(`${overflow}px wider than the screen (${wide.join(', ')})`);
          }
          for (const t of document.querySelectorAll('svg.chart text.axis:not(.minor)')) {
            const h = t.getBoundingClientRect().height;
            if (h > 0 && h < 9) { problems.push(`an axis label is ${h.toFixed(1)}px tall`); break; }
          }
          if (phone) {
            const small = [...document.querySelectorAll('main button, main .button, main summary, header.top button')]
              .filter((e) => e.offsetParent !== null && !e.disabled)
              .filter((e) => e.getBoundingClientRect().height < 39.5);
            if (small.length) problems.push(`${small.length} tap targets under 40px, e.g. "${small[0].textContent.trim()}"`);
          }
          return problems;
        }, width < 600);
        await page.screenshot({ path: `${shots}/page-${name}-${width}-${scheme}.png`, fullPage: true });
        if (found.length) throw new Error(`${path} at ${width}px (${scheme}): ${found.join('; ')}`);
      }
    });
  }
}

await finish();
