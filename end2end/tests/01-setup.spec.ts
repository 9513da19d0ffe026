import { expect } from '@playwright/test';
import { ADMIN, PASSWORD, ready, setupToken, tokenFileExists, test } from './helpers';

test('a fresh install sends you to setup, refuses a wrong token, and claims with the right one', async ({ page }, testInfo) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/setup$/);
  await ready(page, testInfo);
  await expect(page.getByRole('heading', { name: 'Welcome to Burrow' })).toBeVisible();

  // A wrong token: the message sits next to the token field; the username is kept.
  await page.getByLabel('Setup token').fill('this-is-not-the-token');
  await page.getByLabel('Admin username').fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create admin account' }).click();
  await expect(page.locator('#field-token-error')).toContainText('That is not the setup token');
  await expect(page.getByLabel('Admin username')).toHaveValue(ADMIN);
  await page.screenshot({ path: testInfo.outputPath('setup-wrong-token.png'), fullPage: true });

  // A too-short password is refused beside the password field.
  await page.getByLabel('Setup token').fill(setupToken(testInfo));
  await page.getByLabel('Admin username').fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByLabel('Repeat password').fill('short');
  await page.getByRole('button', { name: 'Create admin account' }).click();
  await expect(page.locator('#field-password-error')).toContainText('at least 12 characters');

  // The token from the data directory claims the install and signs us in.
  await page.getByLabel('Setup token').fill(setupToken(testInfo));
  await page.getByLabel('Admin username').fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create admin account' }).click();
  // The wizard starts right away.
  await expect(page).toHaveURL(/\/wizard\/domain$/);
  await expect(page.getByRole('heading', { name: 'Set up your Stoat server' })).toBeVisible();
  await expect(page.locator('.user-menu summary')).toContainText(ADMIN);
  expect(tokenFileExists(testInfo)).toBe(false);

  // Setup is gone for good.
  const res = await page.goto('/setup');
  expect(res?.status()).toBe(404);
});
