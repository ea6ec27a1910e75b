import { test, expect } from "@playwright/test";

// The page in Simplified Chinese or English: chosen from Accept-Language on the server (so the
// first paint, before any JavaScript, is already right), switched with the button, and kept.

test("Accept-Language zh-CN renders the page in Chinese before hydration", async ({ browser, baseURL }) => {
  // No JavaScript at all: what is seen is the server's HTML.
  const context = await browser.newContext({ locale: "zh-CN", javaScriptEnabled: false, baseURL });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page.locator("html")).toHaveAttribute("lang", "zh");
  await expect(page.locator(".tagline")).toHaveText("描述一张照片，就能看到它。");
  await expect(page.getByRole("searchbox", { name: "搜索你的图片" })).toHaveAttribute("placeholder", "海边的日落");
  await expect(page.locator(".index-info")).toContainText("张图片 · 模型 test-tiny");
  await expect(page.locator(".filters summary")).toHaveText("筛选与排序");
  await expect(page.locator("#language")).toHaveText("English");
  await context.close();
});

test("an English browser gets English, and a raw request follows its header", async ({ page, request }) => {
  await page.goto("/");
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  await expect(page.locator(".tagline")).toHaveText("Describe a photo, see it.");
  const zh = await (await request.get("/", { headers: { "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5" } })).text();
  expect(zh).toContain('lang="zh"');
  expect(zh).toContain("描述一张照片，就能看到它。");
  const en = await (await request.get("/duplicates", { headers: { "Accept-Language": "en-GB" } })).text();
  expect(en).toContain("Copies, near copies and bursts. Nothing is deleted.");
});

test("the language switch changes the page at once and the choice persists", async ({ browser, baseURL }) => {
  const context = await browser.newContext({ locale: "zh-CN", baseURL });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/?q=abc&min=-1");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await expect(page.locator("#status")).toContainText("“abc”找到");

  await page.locator("#language").click();
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  await expect(page.locator(".tagline")).toHaveText("Describe a photo, see it.");
  await expect(page.locator("#status")).toContainText("images for “abc”");
  await expect(page.getByRole("searchbox", { name: "Search your images" })).toHaveAttribute("placeholder", "a dog sitting on a bench");

  // A new visit from the same Chinese browser keeps the choice (a cookie), on every page.
  await page.goto("/duplicates");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await expect(page.locator(".tagline")).toHaveText("Copies, near copies and bursts. Nothing is deleted.");
  await page.locator("#language").click();
  await expect(page.locator(".tagline")).toHaveText("完全相同的副本、近似副本和连拍。不会删除任何文件。");
  await page.goto("/");
  await expect(page.locator(".tagline")).toHaveText("描述一张照片，就能看到它。");
  expect(errors).toEqual([]);
  await context.close();
});
