import { expect, Page, TestInfo } from '@playwright/test';
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ready, signedIn, test } from './helpers';

// A new operator walks every wizard step, making one mistake per step that
// must be explained beside its field, sends a real test mail to an SMTP
// server started here, and ends on Deploy. Runs with JavaScript off and on.
const repo = path.resolve(__dirname, '..', '..');

let smtp: ChildProcess;
let smtpPort = 0;
let mailDir = '';

test.beforeAll(async () => {
  mailDir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-mail-'));
  smtp = spawn('/usr/bin/python3', [
    path.join(repo, 'engine/tests/fixtures/smtp_server.py'), '--mode', 'plain', '--out', mailDir,
    '--auth=stoat:e2e-smtp-secret',
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  smtpPort = await new Promise<number>((resolve, reject) => {
    smtp.stdout!.on('data', (chunk: Buffer) => {
      const m = /PORT (\d+)/.exec(chunk.toString());
      if (m) resolve(Number(m[1]));
    });
    smtp.on('exit', (code) => reject(new Error(`SMTP server exited (${code}); is python3-aiosmtpd installed?`)));
  });
});

test.afterAll(() => smtp?.kill());

async function shot(page: Page, testInfo: TestInfo, name: string) {
  await page.screenshot({ path: testInfo.outputPath(`wizard-${name}.png`), fullPage: true });
}

async function submit(page: Page, testInfo: TestInfo, label = 'Save and continue') {
  await page.getByRole('button', { name: label }).click();
  await page.waitForLoadState('load');
  await ready(page, testInfo);
}

async function setCheck(page: Page, label: string, on: boolean) {
  const box = page.getByLabel(label, { exact: true });
  if ((await box.isChecked()) !== on) await box.click();
}

test('a new operator completes every step, mistakes explained, test mail delivered', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  await signedIn(page, testInfo);
  await page.goto('/wizard/domain');
  await ready(page, testInfo);

  // 1. Domain
  const domain = page.getByLabel('Domain', { exact: true });
  if (testInfo.project.use.javaScriptEnabled !== false) {
    // Hydrated, a field is checked as soon as it changes, before anything
    // is saved, and the message goes once the value is fixed.
    const before = await domain.inputValue();
    await domain.fill('chat..burrow.test');
    await domain.press('Tab');
    await expect(page.locator('#f-domain-error')).toContainText('empty labels');
    await expect(page).toHaveURL(/\/wizard\/domain$/);
    await shot(page, testInfo, '1-domain-inline');
    await domain.fill('chat.burrow.test');
    await domain.press('Tab');
    await expect(page.locator('#f-domain-error')).toHaveCount(0);
    await page.reload();
    await ready(page, testInfo);
    await expect(domain).toHaveValue(before);
  }
  await page.getByLabel('Domain', { exact: true }).fill('chat..burrow.test');
  await submit(page, testInfo, 'Save and check');
  await expect(page.locator('#f-domain-error')).toContainText('empty labels');
  await expect(page.getByLabel('Domain', { exact: true })).toHaveValue('chat..burrow.test');
  await shot(page, testInfo, '1-domain-error');
  await page.getByLabel('Domain', { exact: true }).fill('chat.burrow.test');
  await submit(page, testInfo, 'Save and check');
  await expect(page.getByTestId('domain-checks')).toContainText('DNS:');
  await expect(page.getByTestId('domain-checks')).toContainText('Ports:');
  await shot(page, testInfo, '1-domain-checks');
  await page.getByRole('link', { name: 'Continue to TLS' }).click();
  await expect(page).toHaveURL(/\/wizard\/tls$/);
  await ready(page, testInfo);

  // 2. TLS
  await page.getByLabel(/Your own certificate/).check();
  // The loader of the certificate field (the ACME root CA has one too).
  const certLoader = page.locator('.file-load input[type="file"][data-load-into="f-tls-cert-pem"]');
  if (testInfo.project.use.javaScriptEnabled !== false) {
    // Hydrated, a file can be loaded instead of pasted, and is checked.
    const file = path.join(mailDir, 'not-a-cert.pem');
    fs.writeFileSync(file, 'this is not a certificate either');
    await certLoader.setInputFiles(file);
    await expect(page.getByLabel('Certificate chain (PEM)')).toHaveValue('this is not a certificate either');
    await expect(page.locator('.field.has-error')).toContainText(/PEM|certificate/i);
  } else {
    await expect(certLoader).toHaveCount(0);
  }
  await page.getByLabel('Certificate chain (PEM)').fill('this is not a certificate');
  await page.getByLabel('Private key (PEM)').fill('nor is this a key');
  await submit(page, testInfo);
  await expect(page.locator('.field.has-error')).toContainText(/PEM|certificate/i);
  await expect(page.getByLabel('Private key (PEM)')).toHaveValue('');
  await shot(page, testInfo, '2-tls-error');
  await page.getByLabel(/Burrow's own CA/).check();
  await submit(page, testInfo);
  await expect(page).toHaveURL(/\/wizard\/smtp$/);

  // 3. SMTP: a From that is no address is refused.
  await setCheck(page, 'Send e-mail', true);
  await page.getByLabel('SMTP host').fill('localhost');
  await page.getByLabel('Port', { exact: true }).fill('587');
  await page.getByLabel('Security').selectOption('tls');
  await page.getByLabel('Username').fill('stoat');
  await page.getByLabel('Password').fill('e2e-smtp-secret');
  await page.getByLabel('From address').fill('noreply');
  await submit(page, testInfo);
  await expect(page.locator('#f-smtp-from-error')).toBeVisible();
  await expect(page.getByLabel('SMTP host')).toHaveValue('localhost');
  await shot(page, testInfo, '3-smtp-error');
  await page.getByLabel('From address').fill('noreply@burrow.test');
  await page.getByLabel('Port', { exact: true }).fill(String(smtpPort));
  await page.getByLabel('Security').selectOption('none');
  await page.getByLabel('Password').fill('e2e-smtp-secret');
  // The test mail uses the values as typed, before anything is saved, and
  // leaves them in the form (JS off too; a password is never refilled).
  await page.getByLabel('Send to').fill('first@burrow.test');
  await page.getByRole('button', { name: 'Send test mail' }).click();
  await expect(page.getByTestId('mail-result')).toContainText('accepted the message', { timeout: 30_000 });
  await expect(page).toHaveURL(/\/wizard\/smtp$/);
  await expect(page.getByLabel('From address')).toHaveValue('noreply@burrow.test');
  await expect(page.getByLabel('Port', { exact: true })).toHaveValue(String(smtpPort));
  await expect(page.getByLabel('Security')).toHaveValue('none');
  await expect(page.getByRole('link', { name: /3\. E-mail/ })).not.toContainText('(done)');
  await shot(page, testInfo, '3-smtp-unsaved-test-mail');
  expect(fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml')).length).toBe(1);
  if ((await page.getByLabel('Password').inputValue()) === '') {
    await page.getByLabel('Password').fill('e2e-smtp-secret');
  }
  await submit(page, testInfo);
  await expect(page).toHaveURL(/\/wizard\/voice$/);
  // The password is never sent back into the page.
  await page.goto('/wizard/smtp');
  await ready(page, testInfo);
  expect(await page.content()).not.toContain('e2e-smtp-secret');
  await page.getByLabel('Send to').fill('not-an-address');
  await page.getByRole('button', { name: 'Send test mail' }).click();
  await expect(page.getByTestId('mail-result')).toContainText('address');
  await page.getByLabel('Send to').fill('ops@burrow.test');
  await page.getByRole('button', { name: 'Send test mail' }).click();
  await expect(page.getByTestId('mail-result')).toContainText('accepted the message', { timeout: 30_000 });
  await shot(page, testInfo, '3-smtp-test-mail');
  const eml = fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml'));
  expect(eml.length).toBeGreaterThan(0);
  const message = fs.readFileSync(path.join(mailDir, eml[eml.length - 1]), 'utf8');
  expect(message).toMatch(/^From: .*noreply@burrow\.test/m);
  expect(message).toMatch(/^To: .*ops@burrow\.test/m);
  await page.goto('/wizard/voice');
  await ready(page, testInfo);

  // 4. Voice & video
  await setCheck(page, 'Enable voice and video', false);
  await page.getByLabel('Latitude').fill('north');
  await submit(page, testInfo);
  await expect(page.locator('#f-livekit-lat-error')).toBeVisible();
  await expect(page.getByLabel('Latitude')).toHaveValue('north');
  await shot(page, testInfo, '4-voice-error');
  await page.getByLabel('Latitude').fill('48.85');
  await expect(page.getByTestId('firewall')).toContainText('UDP');
  await submit(page, testInfo);
  await expect(page).toHaveURL(/\/wizard\/apps$/);

  // 5. Apps: voice-ingress without LiveKit is explained.
  await setCheck(page, 'Voice events (voice-ingress)', true);
  await submit(page, testInfo);
  await expect(page.locator('.check.has-error')).toContainText('LiveKit');
  await shot(page, testInfo, '5-apps-error');
  await setCheck(page, 'Voice events (voice-ingress)', false);
  await setCheck(page, 'GIF search (gifbox)', true);
  await submit(page, testInfo);
  await expect(page).toHaveURL(/\/wizard\/target$/);

  // 6. Target: a Docker address must be a socket or TCP URL.
  await page.getByLabel(/^Docker/).check();
  await page.getByLabel('Daemon address').fill('http://wrong');
  await submit(page, testInfo);
  await expect(page.locator('.field-error', { hasText: 'unix://' })).toBeVisible();
  await shot(page, testInfo, '6-target-error');
  // Nothing listens here: the deploy below must say so. The test connects
  // to the address as typed, before it is saved.
  await page.getByLabel('Daemon address').fill('tcp://127.0.0.1:9');
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByTestId('target-result')).toContainText('127.0.0.1:9');
  await expect(page).toHaveURL(/\/wizard\/target$/);
  await expect(page.getByLabel('Daemon address')).toHaveValue('tcp://127.0.0.1:9');
  await submit(page, testInfo);
  await expect(page).toHaveURL(/\/wizard\/review$/);
  await page.goto('/wizard/target');
  await ready(page, testInfo);
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByTestId('target-result')).toContainText('127.0.0.1:9');
  await shot(page, testInfo, '6-target-test');

  // 7. Review and deploy.
  await page.goto('/wizard/review');
  await ready(page, testInfo);
  await expect(page.getByTestId('summary')).toContainText('chat.burrow.test');
  await expect(page.getByTestId('summary')).toContainText('gifbox');
  await expect(page.locator('pre.viewer[data-file="Revolt.toml"]')).toContainText('chat.burrow.test');
  expect(await page.content()).not.toContain('e2e-smtp-secret');
  await shot(page, testInfo, '7-review');
  await page.getByTestId('wizard-deploy').click();
  await expect(page).toHaveURL(/\/deploy/);
  await ready(page, testInfo);
  await expect(page.getByTestId('progress')).toBeVisible();
  await expect(page.getByTestId('deploy-summary')).toContainText('127.0.0.1:9', { timeout: 30_000 });
  await shot(page, testInfo, '8-deploy');
});
