import { expect, Page, TestInfo, test as base } from '@playwright/test';
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

/** Pages whose requests Chromium aborted with ERR_NETWORK_CHANGED. */
const networkChanged = new WeakSet<Page>();

/** Playwright's `test`, its page noting when Chromium aborts a request
 * because this machine's interfaces changed (Docker adding or removing a
 * container's veth while a stack deploys). */
export const test = base.extend({
  page: async ({ page }, use) => {
    page.on('requestfailed', (r) => {
      if (r.failure()?.errorText.includes('ERR_NETWORK_CHANGED')) networkChanged.add(page);
    });
    await use(page);
  },
});

/** With JavaScript on, waits until the wasm bundle has hydrated the page:
 * the shared code and the page's own chunks. Chromium aborts what is in
 * flight when Docker changes this machine's interfaces (a container
 * starting or stopping); a page that did not hydrate after such an abort
 * is loaded again (at most twice), any other stays a failure. */
export async function ready(page: Page, testInfo: TestInfo, timeout = 20_000) {
  if (testInfo.project.use.javaScriptEnabled === false) return;
  for (let attempt = 1; ; attempt++) {
    try {
      // Loading and compiling the debug wasm bundle takes seconds on a busy
      // 2-core machine (right after a deploy it took more than 5 s once).
      await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout });
      return;
    } catch (e) {
      if (attempt >= 3 || !networkChanged.has(page)) throw e;
      networkChanged.delete(page);
      console.log(`ready: ${page.url()} lost requests to a network change; loading it again`);
      await page.reload().catch(() => page.reload());
    }
  }
}

/** Navigates to `url`; a navigation Chromium aborted because Docker changed
 * this machine's interfaces (ERR_NETWORK_CHANGED) is made again, at most
 * four times. */
export async function visit(page: Page, url: string) {
  for (let i = 0; ; i++) {
    try {
      await page.goto(url);
      return;
    } catch (e) {
      if (i >= 4 || !String(e).includes('ERR_NETWORK_CHANGED')) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
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
