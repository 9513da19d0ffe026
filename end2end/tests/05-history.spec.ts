import { expect, Page, TestInfo } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pasteStackToml, ready, signedIn, test } from './helpers';

// Config history, JavaScript off and on: three revisions of the test-kit
// stack, two of them compared, the first deployed again from History, and
// the dashboard watching that revision afterwards.
const repo = path.resolve(__dirname, '..', '..');
const kitPath = path.join(repo, 'testkit', 'stack.toml');
const kit = fs.readFileSync(kitPath, 'utf8');
const burrow = path.resolve(repo, process.env.BURROW_BIN ?? 'target/debug/burrow');

function down(dataDir: string) {
  execFileSync(burrow, ['down', '--config', kitPath, '--volumes'], {
    env: { ...process.env, BURROW_DATA_DIR: dataDir },
    stdio: 'ignore',
  });
}

test.describe.configure({ mode: 'serial' });
test.beforeAll(() => down(fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-clean-'))));
test.afterAll(({}, testInfo) => down(testInfo.project.metadata.dataDir as string));

/** Saves `text` as the next revision from the Deploy page; returns its number. */
async function paste(page: Page, testInfo: TestInfo, text: string): Promise<number> {
  await pasteStackToml(page, testInfo, text);
  await page.waitForLoadState('load');
  await ready(page, testInfo);
  await expect(page.getByTestId('revision')).toContainText('not deployed yet');
  const shown = (await page.getByTestId('revision').textContent()) ?? '';
  return Number(/^\s*(\d+)/.exec(shown)![1]);
}

test('three revisions, a diff of two, and an earlier one deployed again', async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  await signedIn(page, testInfo);

  const a = await paste(page, testInfo, kit);
  const b = await paste(page, testInfo, kit.replace(/^gifbox = true$/m, 'gifbox = false'));
  const c = await paste(page, testInfo,
    kit.replace(/^gifbox = true$/m, 'gifbox = false').replace(/^registration = .*$/m, 'registration = "open"'));
  expect([b - a, c - b]).toEqual([1, 1]);

  await page.goto('/history');
  await ready(page, testInfo);
  const row = (n: number) => page.locator(`tr[data-revision="${n}"]`);
  await expect(row(b).getByTestId('changes')).toHaveText('Gifbox turned off');
  await expect(row(c).getByTestId('changes')).toHaveText('Registration open');
  await expect(row(a)).toContainText('never deployed');
  await page.screenshot({ path: testInfo.outputPath('history-1-list.png'), fullPage: true });

  // Compare a with c: a plain GET form, so it works without JavaScript.
  await page.getByTestId('diff-from').selectOption(String(a));
  await page.getByTestId('diff-to').selectOption(String(c));
  await page.getByTestId('compare').click();
  await expect(page).toHaveURL(new RegExp(`from=${a}&to=${c}`));
  await ready(page, testInfo);
  const diff = page.getByTestId('revision-diff');
  await expect(diff).toContainText(`Revision ${a} → revision ${c}`);
  await expect(diff.locator('pre[data-file="Caddyfile"] .del', { hasText: 'gifbox' }).first()).toBeVisible();
  await expect(diff.locator('pre[data-file="Revolt.toml"] .add', { hasText: 'invite_only = false' })).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('history-2-diff.png'), fullPage: true });

  // Deploy revision a: the same progress view as the Deploy page.
  await row(a).getByRole('button', { name: 'Deploy this revision' }).click();
  await expect(page).toHaveURL(/\/deploy/);
  await ready(page, testInfo);
  await expect(page.getByTestId('progress')).toBeVisible();
  // Ends (a failure fails at once, with its reason in the screenshot)…
  await expect(page.getByTestId('deploy-status')).not.toHaveText('running', { timeout: 300_000 });
  await expect(page.getByTestId('deploy-status')).toHaveText('succeeded');
  await page.screenshot({ path: testInfo.outputPath('history-3-deployed.png'), fullPage: true });

  // The dashboard watches revision a, though c is newer.
  await page.goto('/');
  await ready(page, testInfo);
  await expect(page.getByTestId('watched-revision')).toHaveText(String(a));
  await expect(page.locator('tr[data-service="gifbox"]')).toBeVisible();

  await page.goto('/history');
  await ready(page, testInfo);
  await expect(row(a).getByTestId('deployed-badge')).toBeVisible();
  await expect(row(a)).toContainText('succeeded');
  await expect(row(c).getByTestId('deployed-badge')).toHaveCount(0);
});

test('a backup taken on the Backups page is listed, then restored after a confirmation', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  await signedIn(page, testInfo);
  await page.getByRole('link', { name: 'Backups' }).click();
  await expect(page).toHaveURL(/\/backups$/);
  await ready(page, testInfo);
  await expect(page.getByTestId('no-backups')).toHaveText('No backup yet.');
  await page.getByTestId('back-up-now').click();
  // The page follows it (reloading itself without JavaScript) to its end.
  const last = page.getByTestId('backup-activity');
  await expect(last).toContainText('succeeded', { timeout: 180_000 });
  await expect(last).toContainText(/Backup started by admin .*: backup \S+ taken\./);
  const table = page.getByTestId('backups');
  await expect(table.locator('tbody tr')).toHaveCount(1);
  await expect(table).toContainText('minio-data, mongo-config, mongo-data, rabbit-data, redis-data');
  await page.screenshot({ path: testInfo.outputPath('backups-1-taken.png'), fullPage: true });

  // Restoring asks for the confirmation beside its box; nothing happens.
  await ready(page, testInfo);
  await table.getByRole('button', { name: 'Restore' }).click();
  await expect(page.locator('.field-error')).toContainText('Tick the box');
  await ready(page, testInfo);
  await page.getByTestId('backups').getByLabel("Replace the chat server's data with this backup's").check();
  await page.getByTestId('backups').getByRole('button', { name: 'Restore' }).click();
  await expect(page.getByTestId('backup-activity').first()).toContainText(/Restore started by admin/, { timeout: 30_000 });
  // Followed until nothing runs any more and the restore succeeded.
  await expect(page.locator('[data-testid="backup-activity"] .badge.running')).toHaveCount(0, { timeout: 240_000 });
  await expect(page.getByTestId('backup-activity')).toContainText(/succeeded Restore started by admin .*: backup \S+ restored\./);
  await page.screenshot({ path: testInfo.outputPath('backups-2-restored.png'), fullPage: true });
});
