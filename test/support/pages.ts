/**
 * Browser steps the page suites share: signing in through the key form, telling a
 * page swap from a page load, and reading what a person reads.
 */
import type { Page } from 'playwright-core';

/** Marks the document: a full page load would lose the mark. */
export async function markDocument(page: Page): Promise<void> {
  await page.evaluate("document.documentElement.setAttribute('data-test-mark', 'same-document')");
}

/** Whether the document marked by {@link markDocument} is still the one shown. */
export async function sameDocument(page: Page): Promise<boolean> {
  return (await page.evaluate("document.documentElement.getAttribute('data-test-mark')")) === 'same-document';
}

/** The page's main heading as a person reads it. */
export async function heading(page: Page): Promise<string> {
  return (await page.locator('main h1').first().innerText()).trim();
}

/** Opens the server's dashboard and goes through the key form with a name and the key. */
export async function signIn(page: Page, url: string, name: string, key: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator('#key-form').waitFor({ state: 'visible' });
  await page.fill('#name-input', name);
  await page.fill('#key-input', key);
  await page.click('#key-form button[type=submit]');
  await page.locator('#dashboard-live').waitFor();
}

/** Waits for a success message in the page's flash area that contains `text`. */
export async function successFlash(page: Page, text: string | RegExp): Promise<void> {
  await page.locator('#flash .alert-success', { hasText: text }).waitFor();
}
