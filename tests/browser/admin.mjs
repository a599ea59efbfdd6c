// The admin panel in a real browser (Debian chromium via playwright-core): the login wall,
// logging in, running ingest of a batch from its button and watching the run finish live,
// the new points on the public chart, run history, and logging out.
// Run by tests/it/browser.rs: node admin.mjs <base-url> <shots-dir> <username> <password>
import { launch } from './harness.mjs';

const [base, shots, username, password] = process.argv.slice(2);
const { page, step, finish } = await launch(shots);
const cards = () => page.locator('#cards article.chart-card').count();

await step('admin-closed', async () => {
  await page.goto(`${base}/admin/batch/b`);
  await page.waitForURL(/\/admin\/login\?next=/);
  await page.locator('input[name=password]').waitFor();
});

await step('admin-wrong-password', async () => {
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', 'not the password');
  await page.click('button[type=submit]');
  await page.getByText('Wrong username or password.').waitFor();
});

await step('admin-login', async () => {
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  // Back where the login wall stopped us.
  await page.waitForURL(/\/admin\/batch\/b$/);
  await page.getByText(`Signed in as ${username}`).waitFor();
});

await step('admin-chart-before', async () => {
  await page.goto(`${base}/batch/b`);
  await page.getByText('No data in this window yet').waitFor();
  if ((await cards()) !== 0) throw new Error('the batch has charts before its first ingest');
});

await step('admin-run-ingest', async () => {
  await page.goto(`${base}/admin/batch/b`);
  await page.click('button[data-job=ingest]');
  // The progress fragment polls itself until the queued job is done.
  await page.locator('#progress-ingest .progress').waitFor();
  await page.locator('#progress-ingest .progress[data-status=done]').waitFor({ timeout: 60_000 });
  const text = await page.locator('#progress-ingest').innerText();
  if (!/succeeded/.test(text) || !/3 rows/.test(text)) throw new Error(`progress says: ${text}`);
  // The page around it catches up without a reload: the job's last run and recent runs.
  await page.locator('#last-ingest', { hasText: 'succeeded' }).waitFor({ timeout: 10_000 });
  await page.locator('#recent-runs table.runs td', { hasText: 'ingest' }).first().waitFor({ timeout: 10_000 });
});

await step('admin-overview-run', async () => {
  // The overview's batch card runs a job and shows its outcome, and why it wrote nothing.
  await page.goto(`${base}/admin`);
  await page.locator('.admin-batch button[data-job=train]').click();
  await page.locator('#card-progress-0 .progress[data-status=done]').waitFor({ timeout: 60_000 });
  await page.locator('#last-run-0', { hasText: 'nothing trained' }).waitFor({ timeout: 10_000 });
});

await step('admin-chart-after', async () => {
  await page.goto(`${base}/batch/b`);
  await page.waitForFunction(() => document.querySelectorAll('#cards article.chart-card').length === 3);
  const points = await page.locator('#cards svg.chart').count();
  if (points !== 3) throw new Error(`expected 3 charts, got ${points}`);
});

await step('admin-runs', async () => {
  await page.goto(`${base}/admin/runs?trigger=admin`);
  await page.locator('table.runs td', { hasText: 'ingest' }).first().waitFor();
  await page.locator('table.runs .badge.ok').first().waitFor();
});

// The admin pages at a phone's and a desktop's width, light and dark: nothing wider than the
// screen. Screenshots for a reviewer.
for (const [width, height] of [[390, 844], [1440, 900]]) {
  for (const scheme of ['light', 'dark']) {
    await step(`admin-layout-${width}-${scheme}`, async () => {
      await page.setViewportSize({ width, height });
      await page.emulateMedia({ colorScheme: scheme });
      for (const [name, path] of [['overview', '/admin'], ['batch', '/admin/batch/b'], ['runs', '/admin/runs'],
        ['silences', '/admin/silences'], ['config', '/admin/config'], ['tokens', '/admin/tokens']]) {
        await page.goto(`${base}${path}`);
        const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
        await page.screenshot({ path: `${shots}/page-admin-${name}-${width}-${scheme}.png`, fullPage: true });
        if (overflow > 1) throw new Error(`${path} is ${overflow}px wider than the ${width}px screen`);
      }
    });
  }
}
await page.setViewportSize({ width: 1280, height: 900 });

await step('admin-logout', async () => {
  await page.click('button:has-text("Log out")');
  await page.waitForURL(/\/admin\/login$/);
  await page.goto(`${base}/admin`);
  await page.waitForURL(/\/admin\/login\?next=/);
  const cookies = await page.context().cookies();
  if (cookies.some((c) => c.name === 'anomstack_session')) throw new Error('the session cookie survived logout');
});

await finish();
