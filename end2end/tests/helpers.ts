import { expect, Page, TestInfo } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

export const ADMIN = 'admin';
export const PASSWORD = 'correct horse battery staple';

export function setupToken(testInfo: TestInfo): string {
  const dir = testInfo.project.metadata.dataDir as string;
  return fs.readFileSync(path.join(dir, 'setup-token'), 'utf8').trim();
}

export function tokenFileExists(testInfo: TestInfo): boolean {
  const dir = testInfo.project.metadata.dataDir as string;
  return fs.existsSync(path.join(dir, 'setup-token'));
}

/** With JavaScript on, waits until the wasm bundle has hydrated the page. */
export async function ready(page: Page, testInfo: TestInfo) {
  if (testInfo.project.use.javaScriptEnabled !== false) {
    // Loading and compiling the debug wasm bundle takes seconds on a busy
    // 2-core machine (right after a deploy it took more than 5 s once).
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  }
}

export async function signIn(page: Page, testInfo: TestInfo, password = PASSWORD) {
  await page.goto('/login');
  await ready(page, testInfo);
  await page.getByLabel('Username').fill(ADMIN);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in and waits until the console has taken over from the sign-in page. */
export async function signedIn(page: Page, testInfo: TestInfo) {
  await signIn(page, testInfo);
  await expect(page).not.toHaveURL(/\/login/);
  await ready(page, testInfo);
}

/**
 * Pastes `text` into the Deploy page's "Use a stack.toml" form (opened if
 * folded), for this machine's Docker daemon, and presses Save.
 */
export async function pasteStackToml(page: Page, testInfo: TestInfo, text: string) {
  await page.goto('/deploy');
  await ready(page, testInfo);
  const form = page.locator('details.card', { hasText: 'Use a stack.toml' });
  if ((await form.getAttribute('open')) === null) await form.locator('summary').click();
  await page.getByLabel('stack.toml').fill(text);
  await page.getByLabel('Docker daemon address').fill('');
  await page.getByRole('button', { name: 'Save as new revision' }).click();
}
