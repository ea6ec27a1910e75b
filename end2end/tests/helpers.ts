import { expect, type Page, type TestInfo } from "@playwright/test";

// What the page tests share: console errors collected, a page opened and hydrated, a screenshot
// attached to the report.

/** Collects console errors and uncaught exceptions; every test ends by asserting there are none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

export async function openHydrated(page: Page, path = "/") {
  await page.goto(path);
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
}

export async function shot(page: Page, info: TestInfo, name: string) {
  await info.attach(name, { body: await page.screenshot({ fullPage: true }), contentType: "image/png" });
}
