import { expect } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { pasteStackToml, ready, signedIn, test } from './helpers';

const kit = fs.readFileSync(path.resolve(__dirname, '..', '..', 'testkit', 'stack.toml'), 'utf8');

// Once revisions exist, the Deploy page folds its "Use a stack.toml" form
// away; a refused paste must open it again with the reason beside the
// field (the hydrated page re-reads its data after every save, which used
// to fold the message out of sight).
test('a refused stack.toml stays in view once revisions exist', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  await page.goto('/deploy');
  await ready(page, testInfo);
  await expect(page.getByTestId('revision')).toBeVisible();
  const form = page.locator('details.card', { hasText: 'Use a stack.toml' });
  await expect(form).not.toHaveAttribute('open', /.*/);
  await form.locator('summary').click();
  await page.getByLabel('stack.toml').fill('domain = [not toml');
  await page.getByRole('button', { name: 'Save as new revision' }).click();
  await expect(page.locator('#stack_toml-error')).toBeVisible();
  await expect(form).toHaveAttribute('open', /.*/);
  await expect(page.getByLabel('stack.toml')).toHaveValue('domain = [not toml');
  await expect(page).toHaveURL(/\/deploy$/);
});

// The same configuration pasted twice is saved once, and the second paste
// says so beside the text, which stays.
test('an identical stack.toml is not saved twice, and the page says so', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  const text = kit.replace(/^gifbox = true$/m, 'gifbox = false') + '\n# pasted twice\n';
  let saved = '';
  for (const attempt of [1, 2]) {
    await pasteStackToml(page, testInfo, text);
    if (attempt === 1) {
      await expect(page.getByTestId('revision')).toContainText('not deployed yet');
      saved = /^\s*(\d+)/.exec((await page.getByTestId('revision').textContent()) ?? '')![1];
    } else {
      await expect(page.locator('#stack_toml-error')).toContainText(`revision ${saved}, the newest`);
      await expect(page.getByLabel('stack.toml')).toHaveValue(text);
      await expect(page.getByTestId('revision')).toContainText(saved);
    }
  }
});

// Each page's code is a chunk of the wasm bundle of its own, loaded with
// the page. A chunk that fails to arrive (a connection reset) is fetched
// again and the page still hydrates; a page reached by a link then loads
// its own chunks, which were not loaded before.
test('a page hydrates after its chunk failed to arrive, and a linked page loads its own', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  let cut = 0;
  await page.route(/\/pkg\/split_[^/]*history_view[^/]*\.wasm$/, async (route) => {
    if (cut < 2) {
      cut += 1;
      await route.abort('connectionreset');
    } else {
      await route.continue();
    }
  });
  await page.goto('/history');
  await ready(page, testInfo);
  expect(cut).toBe(2);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('History');

  const audit: string[] = [];
  page.on('request', (r) => {
    if (/\/pkg\/split_[^/]*audit_view/.test(r.url())) audit.push(r.url());
  });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Audit');
  expect(audit).toHaveLength(1);
});
