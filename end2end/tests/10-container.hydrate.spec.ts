import { expect, Page, TestInfo } from '@playwright/test';
import { execFileSync, execSync } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { ADMIN, PASSWORD, ready, test, visit } from './helpers';

// Burrow as its users run it in a container (manifests/compose.yml): this
// build's binary and site in an image made here (testkit/burrow-image.sh;
// no registry for a base), non-root with the Docker socket's group, its
// data in a volume, serving HTTPS with its own CA. From that console the
// test kit is deployed, and the dashboard shows every service healthy and
// the chat server answering: Burrow's probes work from inside a container.
const repo = path.resolve(__dirname, '..', '..');
const burrow = path.resolve(repo, process.env.BURROW_BIN ?? 'target/debug/burrow');
const STACK = 'burrow-e2e-incontainer';
const NAME = 'burrow-e2e-console';
const IMAGE = `burrow-e2e-console:${process.pid}`;
const PORT = 18444;
const base = `https://127.0.0.1:${PORT}`;
let data = '';
const kit = fs.readFileSync(path.join(repo, 'testkit', 'stack.toml'), 'utf8')
  .replace(/^name = .*$/m, `name = "${STACK}"`)
  .replace(/^http_port = .*$/m, 'http_port = 24080')
  .replace(/^https_port = .*$/m, 'https_port = 24443')
  .replace(/^tcp_port = .*$/m, 'tcp_port = 24881')
  .replace(/^udp_ports = .*$/m, 'udp_ports = "24900-24904"');

function healthy(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port: PORT, path: '/healthz', rejectUnauthorized: false },
      (res) => { res.resume(); resolve(res.statusCode === 200); });
    req.on('error', () => resolve(false));
  });
}

/** Hydrated ([`ready`]): with a certificate the browser does not trust,
 * Chromium caches nothing, so every page fetches and compiles the debug
 * wasm again (45 s allowed); a page whose requests a network change
 * aborted (Docker adding an interface) is loaded again. */
function hydrated(page: Page, testInfo: TestInfo) {
  return ready(page, testInfo, 45_000);
}

/** Presses Deploy until the page follows a deployment. The stack's
 * containers starting change this machine's interfaces, and Chromium then
 * aborts the page's own requests (ERR_NETWORK_CHANGED: "Could not reach
 * Burrow"): the page is loaded again, and Deploy pressed again only when
 * no deployment was started (the page shows the latest one). */
async function deployFollowed(page: Page, testInfo: TestInfo) {
  const status = page.getByTestId('deploy-status');
  const cut = page.getByRole('alert').filter({ hasText: 'Could not reach Burrow' });
  await page.getByTestId('deploy').click();
  for (let attempt = 1; ; attempt++) {
    await expect(status.or(cut)).toBeVisible({ timeout: 60_000 });
    if (await status.isVisible()) return;
    if (attempt >= 3) throw new Error('the Deploy page could not reach Burrow three times');
    await visit(page, '/deploy');
    await hydrated(page, testInfo);
    try {
      await expect(status).toBeVisible({ timeout: 10_000 });
      return;
    } catch {
      await page.getByTestId('deploy').click();
    }
  }
}

function removeStack() {
  execSync(`docker ps -aq --filter label=burrow.stack=${STACK} | xargs -r docker rm -f; ` +
    `docker network rm ${STACK} 2>/dev/null; ` +
    `docker volume ls -q --filter label=burrow.stack=${STACK} | xargs -r docker volume rm; true`,
  { stdio: 'ignore' });
}

test.describe.configure({ mode: 'serial' });
test.use({ ignoreHTTPSErrors: true, baseURL: base });

test.beforeAll(async () => {
  test.setTimeout(180_000);
  removeStack();
  execSync(`docker rm -f ${NAME} 2>/dev/null; true`, { stdio: 'ignore' });
  execFileSync(path.join(repo, 'testkit', 'burrow-image.sh'), [burrow, path.join(repo, 'target', 'site'), IMAGE]);
  // The data volume belongs to the image's user, as a named volume would.
  data = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-e2e-container-'));
  fs.chownSync(data, 10001, 10001);
  const gid = fs.statSync('/var/run/docker.sock').gid;
  execFileSync('docker', ['run', '-d', '--name', NAME, '--group-add', String(gid),
    '-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${data}:/data`,
    '-p', `127.0.0.1:${PORT}:8443`, IMAGE]);
  for (let i = 0; i < 300 && !(await healthy()); i++) await new Promise((r) => setTimeout(r, 100));
  expect(await healthy()).toBe(true);
  // Chromium aborts its requests while this machine's interfaces change
  // (ERR_NETWORK_CHANGED), as they do while Docker sets up a container's
  // veth: begin once they have stayed the same for 2 s (at most 20 s).
  const links = () => execSync('ip -o link show; ip -o addr show').toString();
  let last = links();
  let still = Date.now();
  for (const end = Date.now() + 20_000; Date.now() < end && Date.now() - still < 2_000;) {
    await new Promise((r) => setTimeout(r, 250));
    const now = links();
    if (now !== last) { last = now; still = Date.now(); }
  }
});

test.afterAll(() => {
  execSync(`docker rm -f ${NAME} 2>/dev/null; docker rmi -f ${IMAGE} 2>/dev/null; true`, { stdio: 'ignore' });
  removeStack();
  if (data) fs.rmSync(data, { recursive: true, force: true });
});

test('Burrow in a container deploys the kit and sees it healthy and answering', async ({ page }, testInfo) => {
  test.setTimeout(480_000);
  page.on('requestfailed', (r) => console.log(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  // Set up as an operator would: the token from the data volume.
  await visit(page, '/setup');
  await hydrated(page, testInfo);
  await page.getByLabel('Setup token').fill(fs.readFileSync(path.join(data, 'setup-token'), 'utf8').trim());
  await page.getByLabel('Admin username').fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create admin account' }).click();
  await expect(page).toHaveURL(/\/wizard\/domain$/);

  await visit(page, '/deploy');
  await hydrated(page, testInfo);
  const form = page.locator('details.card', { hasText: 'Use a stack.toml' });
  if ((await form.getAttribute('open')) === null) await form.locator('summary').click();
  await page.getByLabel('stack.toml').fill(kit);
  await page.getByLabel('Docker daemon address').fill('');
  await page.getByRole('button', { name: 'Save as new revision' }).click();
  await expect(page.getByTestId('revision')).toContainText('1');
  await deployFollowed(page, testInfo);
  await expect(page.getByTestId('deploy-status')).toHaveText('succeeded', { timeout: 240_000 });

  await visit(page, '/');
  await hydrated(page, testInfo);
  const rows = page.locator('table[data-testid="services"] tbody tr[data-service]');
  await expect(rows).toHaveCount(16);
  await expect(page.locator('tr.trouble')).toHaveCount(0, { timeout: 60_000 });
  await expect(page.getByTestId('chat-answers')).toContainText('The chat server answers', { timeout: 60_000 });
  await page.screenshot({ path: testInfo.outputPath('container-dashboard.png'), fullPage: true });
});
