import { test, expect } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";

// The demo data (samples/) with the bundled bilingual demo model (Chinese-CLIP's architecture,
// trained here on the shapes world with Chinese and English captions). What each image shows
// comes from samples/shapes/eval.json, never from its name.

type Labelled = { file: string; color: string; shape: string };
const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "../../samples/shapes/eval.json"), "utf8"));
const labels = new Map<string, Labelled>(manifest.images.map((i: Labelled) => [`shapes/${i.file}`, i]));
const cards = (page: import("@playwright/test").Page) => page.locator("#results li.card");

test("a Chinese browser typing 蓝色的圆 sees blue circles first", async ({ browser, baseURL }, info) => {
  const context = await browser.newContext({ locale: "zh-CN", baseURL });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  await expect(page.locator("html")).toHaveAttribute("lang", "zh");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await expect(page.locator(".index-info")).toContainText("模型 clipfind-demo-bilingual");
  await page.getByRole("searchbox", { name: "搜索你的图片" }).pressSequentially("蓝色的圆", { delay: 30 });
  await expect(page.locator("#status")).toContainText("“蓝色的圆”找到");

  const shown = await cards(page).locator(".path").allTextContents();
  // The first is a blue circle, and two of the first three: this model tells a small blue star or
  // square from a large blue circle less surely than the English demo (within 0.01 in score).
  const first = shown.slice(0, 3).map((p) => `${p}: ${labels.get(p)?.color} ${labels.get(p)?.shape}`);
  expect(first, "the first three").toHaveLength(3);
  expect(first[0]).toMatch(/: blue circle$/);
  expect(first.filter((line) => line.endsWith(": blue circle")), first.join("; ")).toHaveLength(2);
  await info.attach("蓝色的圆", { body: await page.screenshot({ fullPage: false }), contentType: "image/png" });
  expect(errors).toEqual([]);
  await context.close();
});
