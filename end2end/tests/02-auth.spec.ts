import { expect } from '@playwright/test';
import { ADMIN, PASSWORD, ready, signIn, signedIn, test } from './helpers';

test('sign out, a wrong password is explained, then sign in again', async ({ page }, testInfo) => {
  await signIn(page, testInfo);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  await ready(page, testInfo);

  // Sign out from the user menu.
  await page.locator('.user-menu summary').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  // Signed out, the console is closed.
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);

  // A wrong password shows a message and keeps the username.
  await ready(page, testInfo);
  await page.getByLabel('Username').fill(ADMIN);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Wrong username or password.');
  await expect(page.getByLabel('Username')).toHaveValue(ADMIN);
  await page.screenshot({ path: testInfo.outputPath('login-wrong-password.png'), fullPage: true });

  // The right one lets us in, and the overview shows the activity.
  await page.getByLabel('Username').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Recent activity' })).toBeVisible();
  await expect(page.locator('table.activity')).toContainText('failure');
  await page.screenshot({ path: testInfo.outputPath('overview.png'), fullPage: true });
});

// The Audit page lists what happened with the hash chain intact, and its
// filter (a plain GET form) narrows the list, with or without JavaScript.
test('the audit page shows the chain intact and filters by action', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  await page.getByRole('link', { name: 'Audit' }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await ready(page, testInfo);
  await expect(page.getByTestId('audit-chain')).toContainText('The audit log is intact');
  await expect(page.getByTestId('audit-entries')).toContainText('setup');
  await page.getByLabel('Action').selectOption('login');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/\/audit\?action=login/);
  await expect(page.getByTestId('audit-entries')).toContainText('login');
  await expect(page.getByTestId('audit-entries')).not.toContainText('setup');
  await expect(page.getByRole('link', { name: 'Export CSV' })).toHaveAttribute('href', /\/audit\.csv\?action=login/);
  await page.screenshot({ path: testInfo.outputPath('audit.png'), fullPage: true });
});
