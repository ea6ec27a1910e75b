import { test, expect } from "@playwright/test";
import { cpSync } from "node:fs";
import path from "node:path";

// A watch-mode server on target/e2e/live, which starts with 6 test photos (scripts/e2e-data.sh).
// The test copies 300 generated photos in while a search is on the page: the progress line
// appears, and the new photos join the results, without a reload.

const repo = path.resolve(__dirname, "../..");

test("indexing progress shows live and new photos join the results without a reload", async ({ page }, info) => {
  test.setTimeout(120_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  let loads = 0;
  page.on("load", () => loads++);

  await page.goto("/?q=a+striped+pattern&min=-1&k=200");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  const cards = page.locator("#results li.card");
  // The server indexes the folder when it starts: wait for those 6.
  await expect(async () => {
    await page.reload();
    await expect(page.locator(".index-info")).toContainText("6 images", { timeout: 1000 });
  }).toPass({ timeout: 60_000 });
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await expect(cards).toHaveCount(6);
  const loadsBefore = loads;

  cpSync(path.join(repo, "target/e2e/incoming"), path.join(repo, "target/e2e/live/incoming"), { recursive: true });

  const progress = page.locator("#indexing");
  await expect(progress).toBeVisible({ timeout: 30_000 });
  await expect(progress).toContainText("Indexing");
  await info.attach("progress", { body: await page.screenshot({ fullPage: true }), contentType: "image/png" });

  // The new photos are searched as soon as they are indexed: 200 results (k), 306 in the index.
  await expect(page.locator(".index-info")).toContainText("306 images", { timeout: 60_000 });
  await expect(cards).toHaveCount(200);
  await expect(page.locator("#results .path", { hasText: "incoming/generated-" }).first()).toBeVisible();
  await expect(progress).toBeHidden({ timeout: 30_000 });
  expect(loads, "the page was never reloaded").toBe(loadsBefore);
  expect(errors).toEqual([]);
});
