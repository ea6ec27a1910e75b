import { test, expect } from "@playwright/test";

// The demo library with its vectors in Milvus (scripts/e2e-milvus.sh starts a Milvus 2.3 server
// and indexes samples/ into it with the demo model): the page and /api/search work unchanged,
// and answer what the same library on the embedded FAISS store answers (the demo project's
// server, 127.0.0.1:3002, serves samples/ with the same model).

const faissServer = "http://127.0.0.1:3002";

test("the page and the API answer from Milvus as they do from FAISS", async ({ page, request }, info) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  const fromMilvus = await (await request.get("/api/search?q=a%20blue%20circle&k=10")).json();
  const fromFaiss = await (await request.get(`${faissServer}/api/search?q=a%20blue%20circle&k=10`)).json();
  expect(fromMilvus.hits.length).toBe(10);
  expect(fromMilvus.hits.map((h: { path: string }) => h.path)).toEqual(fromFaiss.hits.map((h: { path: string }) => h.path));
  fromMilvus.hits.forEach((h: { score: number }, i: number) => expect(Math.abs(h.score - fromFaiss.hits[i].score)).toBeLessThan(1e-5));
  // A filtered search is answered by Milvus too.
  const portrait = await (await request.get("/api/search?q=a%20blue%20circle&k=5&orientation=portrait")).json();
  const portraitFaiss = await (await request.get(`${faissServer}/api/search?q=a%20blue%20circle&k=5&orientation=portrait`)).json();
  expect(portrait.hits.map((h: { path: string }) => h.path)).toEqual(portraitFaiss.hits.map((h: { path: string }) => h.path));
  expect(portrait.hits.every((h: { width: number; height: number }) => h.height > h.width)).toBe(true);

  await page.goto("/");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await page.getByRole("searchbox", { name: "Search your images" }).pressSequentially("a blue circle", { delay: 20 });
  await expect(page.locator("#status")).toContainText("for “a blue circle”");
  const shown = await page.locator("#results li.card .path").allTextContents();
  expect(shown.slice(0, 10)).toEqual(fromMilvus.hits.map((h: { path: string }) => h.path));
  await info.attach("milvus", { body: await page.screenshot({ fullPage: false }), contentType: "image/png" });
  expect(errors).toEqual([]);
});
