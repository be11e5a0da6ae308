import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install -y chromium`); no tool ever downloads a browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the browser tests leave their screenshots (git-ignored). */
export const SCREENSHOT_DIR = resolve(__dirname, '../../../test-results');

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Every console error and CSP violation the pages reported. */
  problems: string[];
  screenshot(name: string, page?: Page): Promise<string>;
  close(): Promise<void>;
}

export function browserAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/** Starts headless chromium with a fresh profile in a temp dir. */
export async function launchBrowser(options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'endercompute-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: options.viewport ?? { width: 1360, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    timezoneId: 'Europe/Helsinki',
    locale: 'en-GB',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // Reports which element or file broke the CSP, not just that something did.
  await context.addInitScript(
    'document.addEventListener("securitypolicyviolation", function (e) {' +
      ' console.error("CSP violation: " + e.violatedDirective + " " + (e.blockedURI || "") + " " +' +
      ' (e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 160) : "") + " at " + e.sourceFile + ":" + e.lineNumber); });',
  );
  const problems: string[] = [];
  const watch = (page: Page): void => {
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    problems,
    screenshot: async (name, target = page) => {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      // A full-page shot of a scrolled page would show the sticky header mid-page.
      await target.evaluate('window.scrollTo(0, 0)');
      await target.screenshot({ path, fullPage: true });
      return path;
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
