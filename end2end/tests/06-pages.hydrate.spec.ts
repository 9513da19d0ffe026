import { test, expect } from '@playwright/test';
import { ready, signedIn } from './helpers';

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
