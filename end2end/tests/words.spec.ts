import { test, expect, type Page } from "@playwright/test";
import { openHydrated, shot, watchErrors } from "./helpers";

// The words library of scripts/e2e-data.sh: a settings screenshot (its WiFi password is
// sunflower42), a café receipt (invoice 4711), a station sign (北京南站) and a photo without
// words, indexed with the random-weight test model and Tesseract. The pictures' ranking is
// noise here, so what puts an image first is the words read in it.

const cards = (page: Page) => page.locator("#results li.card");
const status = (page: Page) => page.locator("#status");

test("typed words find the screenshot first, with the words they matched marked", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?min=-1");
  await page.getByRole("searchbox", { name: "Search your images" }).pressSequentially("wifi password", { delay: 20 });
  await expect(status(page)).toContainText("for “wifi password”");
  const first = cards(page).first();
  await expect(first.locator(".path")).toHaveText("ocr-001.png");
  const marks = first.locator(".words-match mark");
  await expect.poll(async () => (await marks.allInnerTexts()).map((t) => t.toLowerCase()).sort()).toEqual(["password", "wifi"]);
  // The other images hold neither word: no snippet on them.
  await expect(page.locator("#results li.card .words-match")).toHaveCount(1);
  await shot(page, info, "words-matched");
  expect(errors).toEqual([]);
});

test("the viewer shows the recognised text, selectable", async ({ page }) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?q=invoice%204711&min=-1");
  const first = cards(page).first();
  await expect(first.locator(".path")).toHaveText("ocr-007.png");
  await first.locator("a.thumb").click();
  const words = page.locator(".lightbox pre.words");
  await expect(words).toContainText("4711");
  await expect(words).toHaveAccessibleName("Words read in this image");
  expect(await words.evaluate((e) => getComputedStyle(e).userSelect)).not.toBe("none");
  // Selecting it selects the words (what a person copies).
  await words.evaluate((e) => window.getSelection()!.selectAllChildren(e));
  expect(await page.evaluate(() => window.getSelection()!.toString())).toContain("4711");
  expect(errors).toEqual([]);
});

test("the Match menu restricts the list to words or to pictures, and goes into the URL", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?q=北京南站&min=-1");
  await expect(cards(page)).toHaveCount(4);
  await expect(cards(page).first().locator(".path")).toHaveText("ocr-014.jpg");
  await expect(cards(page).first().locator(".words-match mark")).toHaveText("北京南站");

  await page.getByText("Filters and order").click();
  const menu = page.locator('select[name="match"]');
  await menu.selectOption("words");
  await expect(page).toHaveURL(/match=words/);
  await expect(cards(page)).toHaveCount(1);
  await expect(cards(page).first().locator(".path")).toHaveText("ocr-014.jpg");
  await shot(page, info, "words-only");

  await menu.selectOption("pictures");
  await expect(page).toHaveURL(/match=pictures/);
  await expect(cards(page)).toHaveCount(4);
  await expect(page.locator("#results .words-match")).toHaveCount(0);
  expect(errors).toEqual([]);
});
