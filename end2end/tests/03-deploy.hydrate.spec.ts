import { expect } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as https from 'https';
import { ready, signIn, signedIn, test } from './helpers';

// Deploys the test-kit stack (stand-in images + real Caddy, built by
// testkit/build-images.sh) to the real Docker daemon from the console, then
// watches it: dashboard, a stopped service, live logs, the CA download.
const repo = path.resolve(__dirname, '..', '..');
const stackToml = fs.readFileSync(path.join(repo, 'testkit', 'stack.toml'), 'utf8');
const burrow = path.resolve(repo, process.env.BURROW_BIN ?? 'target/debug/burrow');

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' });
}

/** A request through the stack's Caddy, as a browser on the LAN would make it. */
function throughCaddy(pathname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: 18443, path: pathname, servername: 'stoat.burrow.test',
        headers: { host: 'stoat.burrow.test' }, rejectUnauthorized: false },
      (res) => { res.resume(); resolve(res.statusCode ?? 0); },
    );
    req.on('error', reject);
    req.end();
  });
}

test.describe.configure({ mode: 'serial' });

// A stack left over from an earlier run would keep volumes made with other
// secrets (the database would refuse the new password, as MongoDB does).
test.beforeAll(async ({}, testInfo) => {
  execFileSync(burrow, ['down', '--config', path.join(repo, 'testkit', 'stack.toml'), '--volumes'], {
    env: { ...process.env, BURROW_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-clean-')) },
    stdio: 'ignore',
  });
});

test.afterAll(async ({}, testInfo) => {
  execFileSync(burrow, ['down', '--config', path.join(repo, 'testkit', 'stack.toml'), '--volumes'], {
    env: { ...process.env, BURROW_DATA_DIR: testInfo.project.metadata.dataDir as string },
    stdio: 'ignore',
  });
});

test('a pasted config is checked, saved as a revision and deployed with live progress', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  await signIn(page, testInfo);
  await expect(page).toHaveURL(/\/$/);
  await page.goto('/deploy');
  await ready(page, testInfo);
  await expect(page.getByTestId('no-config')).toBeVisible();

  // A mistake first: the message names the key, the text stays.
  const broken = stackToml.replace(/^lat = .*$/m, 'lat = "north"');
  await page.getByLabel('stack.toml').fill(broken);
  await page.getByRole('button', { name: 'Save as new revision' }).click();
  await expect(page.locator('#stack_toml-error')).toContainText('livekit.lat');
  await expect(page.getByLabel('stack.toml')).toHaveValue(broken);
  await page.screenshot({ path: testInfo.outputPath('deploy-1-invalid.png'), fullPage: true });

  await page.getByLabel('stack.toml').fill(stackToml);
  await page.getByRole('button', { name: 'Save as new revision' }).click();
  await expect(page.getByTestId('revision')).toContainText('1');

  await page.getByTestId('deploy').click();
  await expect(page.getByTestId('progress')).toBeVisible();
  await expect(page.locator('tr.step[data-service="database"]')).toBeVisible({ timeout: 30_000 });
  await page.screenshot({ path: testInfo.outputPath('deploy-2-progress.png'), fullPage: true });
  await expect(page.getByTestId('deploy-status')).toHaveText('succeeded', { timeout: 240_000 });
  await expect(page.locator('tr.step.failed')).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath('deploy-3-done.png'), fullPage: true });

  // Progress is stored: a reload shows the same outcome.
  await page.reload();
  await ready(page, testInfo);
  await expect(page.getByTestId('deploy-status')).toHaveText('succeeded');
  await expect(page.locator('tr.step[data-service="caddy"] .badge')).toHaveText('done');
});

test('the dashboard shows every service, a killed one within seconds, and the chat server answering', async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  await signIn(page, testInfo);
  await ready(page, testInfo);
  const rows = page.locator('table[data-testid="services"] tbody tr[data-service]');
  await expect(rows).toHaveCount(16);
  await expect(page.locator('tr.trouble')).toHaveCount(0, { timeout: 30_000 });
  await expect(page.getByTestId('chat-answers')).toContainText('The chat server answers', { timeout: 30_000 });
  await page.screenshot({ path: testInfo.outputPath('dashboard-1-healthy.png'), fullPage: true });

  // At 1280 px the whole table fits its card: no sideways scroll hides
  // the Ports column.
  await page.setViewportSize({ width: 1280, height: 800 });
  const wrap = page.locator('.table-wrap:has(table[data-testid="services"])');
  const fit = await wrap.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
  expect(fit.scroll, `services table ${fit.scroll}px wide in a ${fit.client}px card`).toBeLessThanOrEqual(fit.client);
  await expect(page.locator('tr[data-service="caddy"] td.ports')).toContainText('18443');
  // A service without a health check says so, not "none".
  await expect(page.locator('tr[data-service="crond"] td:nth-child(3)')).toHaveText('no check');

  // Uptime keeps counting between status updates.
  const uptime = page.locator('tr[data-service="caddy"] td.uptime');
  const before = await uptime.textContent();
  await expect(uptime).not.toHaveText(before ?? '', { timeout: 5_000 });

  docker('kill', 'burrow-testkit-gifbox');
  const gifbox = page.locator('tr[data-service="gifbox"]');
  await expect(gifbox).toHaveClass(/trouble/, { timeout: 10_000 });
  await page.screenshot({ path: testInfo.outputPath('dashboard-2-killed.png'), fullPage: true });
  docker('start', 'burrow-testkit-gifbox');
  await expect(gifbox).not.toHaveClass(/trouble/, { timeout: 30_000 });
});

test('logs stream into the page; markup in a line stays text', async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  await signedIn(page, testInfo);
  await page.goto('/logs?service=api');
  await ready(page, testInfo);
  const lines = page.locator('[data-testid="log"] .line');
  await expect(lines.first()).toBeVisible({ timeout: 20_000 });
  // The stand-ins colour their levels like tracing does: shown as colour,
  // never as escape codes.
  await expect(page.locator('[data-testid="log"] .line .ansi-fg-2').first()).toHaveText(/INFO/);
  expect(await page.locator('[data-testid="log"]').innerText()).not.toMatch(/\[3\dm/);

  const marker = `<img src=x onerror="window.pwned=1">-${Date.now()}`;
  await throughCaddy('/api/' + encodeURIComponent(marker));
  const line = page.locator('[data-testid="log"] .line', { hasText: 'onerror' });
  await expect(line.first()).toBeVisible({ timeout: 20_000 });
  expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();
  await expect(page.locator('[data-testid="log"] img')).toHaveCount(0);

  // Pause holds new lines back; resume shows them.
  await page.getByTestId('pause').click();
  const frozen = await lines.count();
  await throughCaddy('/api/while-paused');
  await expect(page.getByTestId('pause')).toContainText(/Resume \([1-9]/, { timeout: 20_000 });
  expect(await lines.count()).toBe(frozen);
  await page.getByTestId('pause').click();
  await expect(page.locator('[data-testid="log"] .line', { hasText: 'while-paused' }).first()).toBeVisible();

  await page.getByLabel('Filter').fill('while-paused');
  await expect(lines).toHaveCount(await page.locator('[data-testid="log"] .line', { hasText: 'while-paused' }).count());
  await page.screenshot({ path: testInfo.outputPath('logs.png'), fullPage: true });

  const download = await page.request.get('/logs/download?service=api');
  expect(download.status()).toBe(200);
  expect(await download.text()).toContain('while-paused');
});

test('the downloaded CA validates the certificate Caddy serves', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  await page.goto('/certificate');
  await ready(page, testInfo);
  await expect(page.getByTestId('ca-fingerprint')).toContainText(':');
  await page.screenshot({ path: testInfo.outputPath('certificate.png'), fullPage: true });
  const pem = await (await page.request.get('/certificate/burrow-ca.pem')).text();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-ca-')), 'ca.pem');
  fs.writeFileSync(file, pem);
  const body = execFileSync('curl', [
    '-sS', '--fail', '--cacert', file,
    '--resolve', 'stoat.burrow.test:18443:127.0.0.1',
    'https://stoat.burrow.test:18443/.well-known/stoat',
  ], { encoding: 'utf8' });
  expect(JSON.parse(body).api).toContain('stoat.burrow.test');
});
