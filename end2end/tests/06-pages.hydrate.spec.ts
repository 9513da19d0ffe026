import { test, expect, Page } from '@playwright/test';
import { ready, signedIn } from './helpers';

// Each console page's code is its own file (cargo leptos build --split): a
// first visit fetches the shell and that page, another page's code comes
// when it is first opened, and the page still hydrates and works.

/** Names of the wasm files the page fetched while `during` ran. */
async function wasmFetched(page: Page, during: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const record = (r: { url(): string }) => {
    const name = new URL(r.url()).pathname.split('/').pop() ?? '';
    if (name.endsWith('.wasm')) seen.push(name);
  };
  page.on('request', record);
  await during();
  page.off('request', record);
  return seen;
}

test('a first visit loads the shell and its page; another page comes when opened', async ({ page }, testInfo) => {
  await signedIn(page, testInfo);
  const first = await wasmFetched(page, async () => {
    await page.goto('/certificate');
    await ready(page, testInfo);
  });
  expect(first).toContain('burrow.wasm');
  expect(first.some((f) => f.startsWith('split___certificate_view'))).toBe(true);
  expect(first.filter((f) => f.startsWith('split___wizard_view'))).toEqual([]);
  expect(first.filter((f) => f.startsWith('split___deploy_view'))).toEqual([]);

  // Client-side navigation fetches the Deploy page's code, and the page
  // works: a refused stack.toml is explained beside its field by the
  // hydrated form, without a page load.
  const later = await wasmFetched(page, async () => {
    await page.getByRole('link', { name: 'Deploy' }).click();
    await expect(page.getByRole('heading', { name: 'Deploy', level: 1 })).toBeVisible();
    await page.waitForLoadState('networkidle');
  });
  expect(later.some((f) => f.startsWith('split___deploy_view'))).toBe(true);
  expect(later).not.toContain('burrow.wasm');
  const form = page.locator('details.card', { hasText: 'Use a stack.toml' });
  if ((await form.getAttribute('open')) === null) await form.locator('summary').click();
  await page.getByLabel('stack.toml').fill('domain = [not toml');
  const loads = await wasmFetched(page, async () => {
    await page.getByRole('button', { name: 'Save as new revision' }).click();
    await expect(page.locator('#stack_toml-error')).toBeVisible();
  });
  expect(loads).toEqual([]);
  await expect(page).toHaveURL(/\/deploy$/);
});
