import { test, expect, type Page } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";

// The default demo data (samples/, as `make run` serves it) with the bundled demo model.
// What each generated image shows comes from samples/shapes/eval.json, never from its name.

type Labelled = { file: string; color: string; shape: string };
const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "../../samples/shapes/eval.json"), "utf8"));
const labels = new Map<string, Labelled>(manifest.images.map((i: Labelled) => [`shapes/${i.file}`, i]));

const box = (page: Page) => page.getByRole("searchbox", { name: "Search your images" });
const cards = (page: Page) => page.locator("#results li.card");

test("typing “blue circle” shows blue circles first", async ({ page }, info) => {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await expect(page.locator(".banner.demo")).toContainText(/demo model/i);
  await box(page).pressSequentially("blue circle", { delay: 30 });
  await expect(page.locator("#status")).toContainText("for “blue circle”");

  const shown = await cards(page).locator(".path").allTextContents();
  const first = shown.slice(0, 3).map((p) => `${p}: ${labels.get(p)?.color} ${labels.get(p)?.shape}`);
  expect(first, "the first three").toHaveLength(3);
  for (const line of first) expect(line).toMatch(/: blue circle$/);
  await info.attach("blue circle", { body: await page.screenshot({ fullPage: false }), contentType: "image/png" });
  expect(errors).toEqual([]);
});
