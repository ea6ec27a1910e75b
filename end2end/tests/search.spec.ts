import { test, expect, type Page } from "@playwright/test";

/** Collects console errors and uncaught exceptions; every test ends by asserting there are none. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

async function openHydrated(page: Page) {
  await page.goto("/");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
}

test("typing calls the search server function and the status says what happened", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page);

  const box = page.getByRole("searchbox", { name: "Search your images" });
  await expect(box).toBeFocused();
  const status = page.getByRole("status");
  await expect(status).toHaveText("Type to search your images.");

  const answered = page.waitForResponse((r) => r.url().includes("/api/search?"));
  await box.pressSequentially("a dog sitting on a bench");
  expect((await answered).status()).toBe(200);

  // The text comes from the server: it echoes the query and explains why there are no results.
  await expect(status).toContainText("“a dog sitting on a bench” was not searched");
  await expect(status).toContainText("No image folder is configured");
  // Live search: no page load happened while typing.
  expect(await page.evaluate(() => performance.getEntriesByType("navigation").length)).toBe(1);

  await box.fill("");
  await expect(status).toHaveText("Type to search your images.");

  await info.attach("after typing", { body: await page.screenshot(), contentType: "image/png" });
  expect(errors).toEqual([]);
});

test("the search endpoint refuses bad queries with a 400 and a message", async ({ request }) => {
  const tooLong = await request.get(`/api/search?q=${"x".repeat(2001)}`);
  expect(tooLong.status()).toBe(400);
  expect(await tooLong.text()).toContain("too long");

  const blank = await request.get("/api/search?q=%20%20");
  expect(blank.status()).toBe(400);
  expect(await blank.text()).toContain("Type something");
});

test("the page ships a favicon", async ({ request }) => {
  const icon = await request.get("/favicon.ico");
  expect(icon.status()).toBe(200);
  expect((await icon.body()).length).toBeGreaterThan(100);
});
