import { test, expect, type Page } from "@playwright/test";

// The demo library served with a password (CLIPFIND_PASSWORD, set in playwright.config.ts):
// nothing shows before signing in, searching works after, and signing out ends it.
const password = "correct horse battery";
const box = (page: Page) => page.getByRole("searchbox", { name: "Search your images" });
const cards = (page: Page) => page.locator("#results li.card");

test("sign in, search, sign out", async ({ page }, info) => {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));

  // A search link opened before signing in comes back to that search afterwards.
  await page.goto("/?q=red+square");
  await expect(page).toHaveURL(/\/login\?next=%2F%3Fq%3Dred%2Bsquare/);
  await expect(page.locator('main.login[data-hydrated="true"]')).toBeAttached();
  expect(await page.request.get("/api/search?q=red").then((r) => r.status())).toBe(401);

  await page.fill("#password", "not the password");
  await page.click("#sign-in");
  await expect(page.locator(".login-error")).toContainText("not right");

  await page.fill("#password", password);
  await page.click("#sign-in");
  await expect(page).toHaveURL(/\/\?q=red\+square$/);
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await expect(cards(page).first()).toBeVisible();
  // The page's code runs under its content security policy: live typing searches.
  await box(page).fill("");
  await box(page).pressSequentially("blue circle", { delay: 30 });
  await expect(page.locator("#status")).toContainText("for “blue circle”");
  const thumb = cards(page).first().locator("img");
  await expect(thumb).toHaveJSProperty("complete", true);
  expect(await thumb.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  await info.attach("signed in", { body: await page.screenshot({ fullPage: false }), contentType: "image/png" });

  await page.click("#sign-out");
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
  expect(await page.request.get("/api/search?q=red").then((r) => r.status())).toBe(401);
  expect(errors).toEqual([]);
});
