import { expect, Page, TestInfo } from '@playwright/test';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ready, signedIn, test } from './helpers';

// A real update of the whole test-kit stack from the Updates page,
// JavaScript off and on: releases pushed to Debian's docker-registry on
// loopback and published with `burrow release`; v2 installs (progress
// followed: live over SSE when hydrated, without a reload; the history
// entry with its step log), v3 (its web never
// serves) is rolled back with the reason, v4 installs, and the operator
// goes back to v2 from the history.
const repo = path.resolve(__dirname, '..', '..');
const kitPath = path.join(repo, 'testkit', 'stack.toml');
const burrow = path.resolve(repo, process.env.BURROW_BIN ?? 'target/debug/burrow');

let registry: ChildProcess | undefined;
let port = 0;
let work = '';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const p = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(p));
    });
  });
}

async function waitListening(p: number) {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(p, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not listen on ${p}`);
}

/** Pushes the test kit as `tag` (SERVICE's Dockerfile gets LINE); the images map file. */
function push(tag: string, ...odd: string[]): string {
  const json = execFileSync(path.join(repo, 'testkit', 'push-release.sh'), [String(port), tag, ...odd], { encoding: 'utf8' });
  const file = path.join(work, `${tag}.json`);
  fs.writeFileSync(file, json);
  return file;
}

function release(chan: string, version: string, images: string) {
  execFileSync(burrow, ['release', 'add', chan, '--version', version, '--images', images, '--no-backup']);
  execFileSync(burrow, ['release', 'sign', chan]);
}

function down(dataDir: string) {
  execFileSync(burrow, ['down', '--config', kitPath, '--volumes'], {
    env: { ...process.env, BURROW_DATA_DIR: dataDir },
    stdio: 'ignore',
  });
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({}, testInfo) => {
  test.setTimeout(240_000);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-e2e-update-'));
  port = await freePort();
  fs.writeFileSync(path.join(work, 'registry.yml'),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${work}/registry\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  registry = spawn('/usr/bin/docker-registry', ['serve', path.join(work, 'registry.yml')], { stdio: 'ignore' });
  await waitListening(port);
  // The stack as the kit configures it, deployed on this console's data.
  execFileSync(burrow, ['apply', '--config', kitPath], {
    env: { ...process.env, BURROW_DATA_DIR: testInfo.project.metadata.dataDir as string },
    stdio: 'ignore',
  });
});

test.afterAll(({}, testInfo) => {
  down(testInfo.project.metadata.dataDir as string);
  registry?.kill();
  fs.rmSync(work, { recursive: true, force: true });
});

/** The history row of the update to `version` (the newest such). */
function row(page: Page, version: string) {
  return page.locator(`tr[data-version="${version}"]`).first();
}

async function checkAndUpdate(page: Page, testInfo: TestInfo, version: string) {
  await page.goto('/updates');
  await ready(page, testInfo);
  await page.getByRole('button', { name: 'Check now' }).click();
  await expect(page.getByTestId('update-now')).toHaveText(`Update to ${version} now`);
  await ready(page, testInfo);
  await page.getByTestId('update-now').click();
  const js = testInfo.project.use.javaScriptEnabled !== false;
  if (js) {
    // Hydrated, the page follows the update over SSE without reloading:
    // a mark left on the window while it runs is still there at its end.
    await expect(row(page, version).getByTestId('rollout-state')).toHaveText(/running|rolling back/);
    await ready(page, testInfo);
    await page.evaluate(() => { (window as any).__sameDocument = true; });
  }
  // The page follows it (reloading itself without JavaScript) to its end.
  await expect(row(page, version).getByTestId('rollout-state')).not.toHaveText(/running|rolling back/, { timeout: 180_000 });
  if (js) {
    expect(await page.evaluate(() => (window as any).__sameDocument === true)).toBe(true);
  }
}

test('updates from the Updates page: one installs, a failing one is rolled back, and back to an earlier one', async ({ page }, testInfo) => {
  test.setTimeout(600_000);
  const chan = path.join(work, 'chan');
  execFileSync(burrow, ['release', 'init', chan]);
  const v2 = push('v2');
  const v3 = push('v3', 'web', 'ENV STANDIN_NEVER_LISTEN=1');
  release(chan, '0.2.0', v2);

  await signedIn(page, testInfo);
  await page.goto('/updates');
  await ready(page, testInfo);
  await page.getByLabel('Channel address').fill(`file://${path.join(chan, 'channel')}`);
  await page.getByLabel('Root metadata (1.root.json)').fill(fs.readFileSync(path.join(chan, 'channel', 'metadata', '1.root.json'), 'utf8'));
  await page.getByRole('button', { name: 'Save channel' }).click();
  await expect(page.getByTestId('update-channel')).toContainText(chan);

  await checkAndUpdate(page, testInfo, '0.2.0');
  await expect(row(page, '0.2.0').getByTestId('rollout-state')).toHaveText('completed');
  await expect(page.getByTestId('update-installed')).toHaveText('Installed: release 0.2.0 (sequence 1).');
  await row(page, '0.2.0').locator('summary', { hasText: 'steps' }).click();
  await expect(row(page, '0.2.0').getByTestId('step-log')).toContainText('Watched the whole stack settle');
  await page.screenshot({ path: testInfo.outputPath('update-1-completed.png'), fullPage: true });

  // v3's web never serves: the whole stack goes back, with the reason.
  release(chan, '0.3.0', v3);
  await checkAndUpdate(page, testInfo, '0.3.0');
  await expect(row(page, '0.3.0').getByTestId('rollout-state')).toHaveText('rolled back');
  await expect(row(page, '0.3.0').getByTestId('rollout-detail')).toContainText(/The whole stack runs the previous release again: .*web/);
  await expect(page.getByTestId('update-installed')).toHaveText('Installed: release 0.2.0 (sequence 1).');
  await page.screenshot({ path: testInfo.outputPath('update-2-rolled-back.png'), fullPage: true });

  // v4 installs; then back to 0.2.0 from the history.
  release(chan, '0.4.0', v2);
  await checkAndUpdate(page, testInfo, '0.4.0');
  await expect(row(page, '0.4.0').getByTestId('rollout-state')).toHaveText('completed');
  await ready(page, testInfo);
  await row(page, '0.2.0').getByRole('button', { name: 'Roll back to 0.2.0' }).click();
  await expect(row(page, '0.2.0').getByTestId('rollout-state')).toHaveText('completed', { timeout: 180_000 });
  await expect(page.getByTestId('update-installed')).toHaveText('Installed: release 0.2.0 (sequence 1).', { timeout: 180_000 });
  await page.screenshot({ path: testInfo.outputPath('update-3-back.png'), fullPage: true });
});
