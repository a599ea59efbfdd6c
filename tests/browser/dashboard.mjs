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
  await page.locator('a[href="/batch/web"]').waitFor();
});

await step('batch', async () => {
  await page.click('a[href="/batch/web"]');
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
  await page.click('text=☾ Dark');
  await page.waitForFunction(() => document.body.classList.contains('dark'));
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length > 0);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (bg === 'rgb(246, 247, 249)') throw new Error('still the light background');
});

await step('expand', async () => {
  await page.locator('#cards article.chart-card button[title=Expand]').first().click();
  await page.locator('#modal[open] svg.chart').waitFor();
  await page.click('#modal button:has-text("Close")');
});

await step('anomalies', async () => {
  await page.goto(`${base}/batch/web/anomalies`);
  await page.locator('text=Showing 4 of 4 anomalies').waitFor();
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
  await page.locator('table.list button[title=Expand]').first().click();
  await page.locator('#modal[open] .expanded svg.chart').waitFor();
  if (await page.locator('#modal .expanded svg.chart .marker').count() !== 1) throw new Error('more than the one anomaly is marked');
  await page.locator('#modal form.feedback button[title="Real anomaly"]').click();
  await page.locator('#modal form.feedback button.active[title="Real anomaly"]').waitFor();
});

await step('anomaly-feedback-in-row', async () => {
  await page.click('#modal button:has-text("Close")');
  await page.locator('table.list form.feedback').first().locator('button.active[title="Real anomaly"]').waitFor();
  await page.locator('table.list form.feedback').first().locator('button[title="Real anomaly"]').click();
  await page.waitForFunction(() => !document.querySelector('table.list form.feedback button.active'));
});

await step('phone', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/batch/web?columns=2`);
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 10);
  const layout = await page.evaluate(() => {
    const cards = [...document.querySelectorAll('#cards article.chart-card')];
    return {
      overflow: document.scrollingElement.scrollWidth - window.innerWidth,
      oneColumn: cards.every((c) => c.getBoundingClientRect().left === cards[0].getBoundingClientRect().left),
    };
  });
  if (layout.overflow > 1) throw new Error(`the page is ${layout.overflow}px wider than a phone`);
  if (!layout.oneColumn) throw new Error('charts are not in one column on a phone');
});

await finish();
