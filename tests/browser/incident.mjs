// An incident in a real browser (Debian chromium via playwright-core): the home page lists
// the open incident first, its page draws every metric on one time axis with the timeline,
// and an admin acknowledges it from its page.
// Run by tests/it/browser.rs: node incident.mjs <base-url> <shots-dir> <username> <password>
import { launch } from './harness.mjs';

const [base, shots, username, password] = process.argv.slice(2);
const { page, step, finish } = await launch(shots);

await step('incident-home', async () => {
  await page.goto(`${base}/`);
  await page.locator('#open-incidents a[href="/incidents/1"]').waitFor();
  const order = await page.evaluate(() => {
    const sections = [...document.querySelectorAll('main section')].map((s) => s.id);
    return sections.indexOf('open-incidents') < sections.indexOf('attention');
  });
  if (!order) throw new Error('open incidents are not first');
});

await step('incident-page', async () => {
  await page.click('#open-incidents a[href="/incidents/1"]');
  await page.waitForURL(/\/incidents\/1$/);
  const charts = page.locator('section.incident-metric svg.chart');
  if ((await charts.count()) !== 3) throw new Error(`${await charts.count()} charts, not 3`);
  // One time axis: every chart's axis reads the same first and last labels.
  const axes = await page.evaluate(() =>
    [...document.querySelectorAll('section.incident-metric svg.chart')].map((svg) =>
      [...svg.querySelectorAll('line.tick')].map((t) => t.getAttribute('x1')).join('|')
      + [...svg.querySelectorAll('text.axis')].filter((t) => t.getAttribute('text-anchor') === 'middle' && !t.getAttribute('transform'))
        .map((t) => t.textContent).join('|')));
  if (new Set(axes).size !== 1) throw new Error(`the charts' time axes differ: ${JSON.stringify(axes)}`);
  await page.getByText('opened the incident').waitFor();
  await page.locator('section.incident-metric td', { hasText: 'a sudden drop in checkout' }).waitFor();
  if (await page.locator('form[action="/admin/incidents/1/acknowledge"]').count()) {
    throw new Error('a visitor sees the acknowledge button');
  }
});

await step('incident-acknowledged', async () => {
  await page.goto(`${base}/admin/login?next=/incidents/1`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/incidents\/1$/);
  await page.click('form[action="/admin/incidents/1/acknowledge"] button');
  await page.waitForURL(/\/incidents\/1$/);
  await page.locator('.incident-facts', { hasText: `acknowledged by ${username}` }).waitFor();
  await page.locator('.timeline', { hasText: 'Acknowledged by' }).waitFor();
});

await finish();
