import { expect } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ready, signedIn, test } from './helpers';

// The Updates page, JavaScript off and on: a channel published with
// `burrow release` (a directory, read as file://) is set on the page (a
// wrong root refused beside its field), checked, and its release shown
// with its notes as text and a badge in the header.

const services = [
  'database', 'redis', 'rabbit', 'minio', 'createbuckets', 'livekit', 'api', 'events',
  'autumn', 'january', 'gifbox', 'crond', 'pushd', 'voice-ingress', 'web', 'caddy',
];

function publish(): { url: string; root: string } {
  const bin = path.resolve('..', process.env.BURROW_BIN ?? 'target/debug/burrow');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-e2e-channel-'));
  const chan = path.join(dir, 'chan');
  const images = path.join(dir, 'images.json');
  const digest = 'e2'.repeat(32);
  fs.writeFileSync(
    images,
    JSON.stringify(Object.fromEntries(services.map((s) => [s, `r.example/${s}@sha256:${digest}`]))),
  );
  const notes = path.join(dir, 'notes.md');
  fs.writeFileSync(notes, 'Voice calls <b>reconnect</b> faster.');
  execFileSync(bin, ['release', 'init', chan]);
  execFileSync(bin, ['release', 'add', chan, '--version', '0.16.3', '--images', images, '--notes', notes]);
  execFileSync(bin, ['release', 'sign', chan]);
  return {
    url: `file://${path.join(chan, 'channel')}`,
    root: fs.readFileSync(path.join(chan, 'channel', 'metadata', '1.root.json'), 'utf8'),
  };
}

test('a channel is set on the Updates page, checked, and its release shown', async ({ page }, testInfo) => {
  const channel = publish();
  await signedIn(page, testInfo);
  await page.getByRole('link', { name: 'Updates' }).click();
  await expect(page).toHaveURL(/\/updates$/);
  await ready(page, testInfo);
  await expect(page.getByRole('button', { name: 'Check now' })).toBeDisabled();

  // Not a root: refused beside its field, the address kept.
  await page.getByLabel('Channel address').fill(channel.url);
  await page.getByLabel('Root metadata (1.root.json)').fill('{"signed": {}}');
  await page.getByRole('button', { name: 'Save channel' }).click();
  await expect(page.locator('.field.has-error')).toContainText('This is not a TUF root');
  await expect(page.getByLabel('Channel address')).toHaveValue(channel.url);

  await page.getByLabel('Root metadata (1.root.json)').fill(channel.root);
  await page.getByRole('button', { name: 'Save channel' }).click();
  await expect(page.getByTestId('update-channel')).toContainText(channel.url);
  await ready(page, testInfo);
  await page.getByRole('button', { name: 'Check now' }).click();
  await expect(page.getByTestId('update-available')).toContainText('Release 0.16.3 (sequence 1) of channel stable');
  await expect(page.getByTestId('update-notes')).toHaveText('Voice calls <b>reconnect</b> faster.');
  await expect(page.getByTestId('update-badge')).toBeVisible();
  await expect(page.getByTestId('update-now')).toHaveText('Update to 0.16.3 now');
});

test('automatic updates are set to a maintenance window, a bad one refused beside its field', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  await page.goto('/updates');
  await ready(page, testInfo);
  const card = page.getByTestId('auto-update');
  await expect(page.getByTestId('auto-status')).toContainText('Off');

  // No day, and a window as long as nothing: each refused beside its field.
  await card.getByLabel('Install new releases automatically').check();
  for (const day of ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']) await card.getByLabel(day, { exact: true }).uncheck();
  await card.getByLabel('From (UTC)').fill('22:00');
  await card.getByLabel('Until (UTC)').fill('22:00');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(card.locator('fieldset.has-error')).toContainText('Choose at least one day for the window.');
  await expect(card.locator('.field.has-error', { hasText: 'Until' })).toContainText('The window ends when it starts');
  await expect(card.getByLabel('From (UTC)')).toHaveValue('22:00');
  await expect(card.getByLabel('Install new releases automatically')).toBeChecked();
  await expect(page.getByTestId('auto-status')).toContainText('Off');

  // Two days whose windows are not open now (the updater looks every
  // minute, and the channel above offers a release).
  const names = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const plural = ['Mondays', 'Tuesdays', 'Wednesdays', 'Thursdays', 'Fridays', 'Saturdays', 'Sundays'];
  const today = (new Date().getUTCDay() + 6) % 7;
  const [a, b] = [(today + 2) % 7, (today + 3) % 7].sort((x, y) => x - y);
  await ready(page, testInfo);
  await card.getByLabel(names[a], { exact: true }).check();
  await card.getByLabel(names[b], { exact: true }).check();
  await card.getByLabel('Until (UTC)').fill('02:00');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('auto-status')).toContainText(
    `On: ${plural[a]} and ${plural[b]}, 22:00-02:00 UTC (into the next day). Next window: `);
  await expect(card.getByLabel(names[a], { exact: true })).toBeChecked();
  await expect(card.getByLabel(names[(today + 5) % 7], { exact: true })).not.toBeChecked();

  // Off again (the rollout tests update by hand).
  await ready(page, testInfo);
  await card.getByLabel('Install new releases automatically').uncheck();
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('auto-status')).toContainText('Off');
});
