import { expect, Page, TestInfo } from '@playwright/test';
import * as crypto from 'crypto';
import { PASSWORD, ready, signIn, signedIn, test } from './helpers';

// Two-factor sign-in, JavaScript off and on: set up from the Security page,
// then the password leads to a code; a code works once, a recovery code
// works once. Last spec: it turns two-factor off again at the end.

/** RFC 4648 base32, as the Security page shows the secret (with spaces). */
function base32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The code an authenticator app shows (RFC 6238: SHA-1, 6 digits, 30 s). */
function totp(secret: string, stepsAhead = 0): string {
  const counter = Math.floor(Date.now() / 1000 / 30) + stepsAhead;
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac('sha1', base32(secret)).update(message).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return ((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

/** Opens the user menu (it may be open still after a client-side move). */
async function openUserMenu(page: Page) {
  const menu = page.locator('details.user-menu');
  if ((await menu.getAttribute('open')) === null) await menu.locator('summary').click();
}

async function signOut(page: Page) {
  await openUserMenu(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
}

async function enterCode(page: Page, testInfo: TestInfo, code: string) {
  // (After a refused code the address carries the error, without JavaScript.)
  await expect(page).toHaveURL(/\/login\/code(\?|$)/);
  await ready(page, testInfo);
  await page.getByLabel('Code', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('two-factor sign-in: set up, a code once, a recovery code once', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  await openUserMenu(page);
  await page.getByRole('link', { name: 'Security' }).click();
  await expect(page).toHaveURL(/\/account\/security$/);
  await ready(page, testInfo);
  await expect(page.getByTestId('two-factor-state')).toContainText('off');
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  await expect(page.getByTestId('two-factor-qr').locator('svg')).toBeVisible();
  const secret = (await page.getByTestId('two-factor-secret').textContent()) ?? '';
  expect(secret.replace(/\s/g, '')).toMatch(/^[A-Z2-7]{32}$/);
  await page.screenshot({ path: testInfo.outputPath('two-factor-setup.png'), fullPage: true });
  await ready(page, testInfo);
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.getByTestId('recovery-codes').locator('li');
  await expect(codes).toHaveCount(10);
  const recovery = await codes.allTextContents();
  await expect(page.getByTestId('two-factor-state')).toContainText('10 recovery codes are left');

  // The password alone leads to the code; the next code signs in.
  await ready(page, testInfo);
  await signOut(page);
  await signIn(page, testInfo);
  const code = totp(secret, 1);
  await enterCode(page, testInfo, code);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();

  // The same code again is refused; a recovery code signs in.
  await ready(page, testInfo);
  await signOut(page);
  await signIn(page, testInfo);
  await enterCode(page, testInfo, code);
  await expect(page.locator('#field-code-error')).toContainText('used already');
  await enterCode(page, testInfo, recovery[0]);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();

  // That recovery code is spent; another one works.
  await ready(page, testInfo);
  await signOut(page);
  await signIn(page, testInfo);
  await enterCode(page, testInfo, recovery[0]);
  await expect(page.locator('#field-code-error')).toContainText('not right');
  await enterCode(page, testInfo, recovery[1]);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();

  // Off again with the password (the other specs sign in with it alone).
  await page.goto('/account/security');
  await ready(page, testInfo);
  await expect(page.getByTestId('two-factor-state')).toContainText('8 recovery codes are left');
  await page.locator('details', { hasText: 'Turn two-factor sign-in off' }).locator('summary').click();
  await page.getByLabel('Your password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Turn off' }).click();
  await expect(page.getByTestId('two-factor-state')).toContainText('off');
});
