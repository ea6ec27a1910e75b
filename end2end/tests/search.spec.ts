import { test, expect, type Page } from "@playwright/test";
import { openHydrated, shot, watchErrors } from "./helpers";
import { readFileSync } from "node:fs";

// The server searches target/e2e/photos (scripts/e2e-data.sh) with the random-weight test
// model: text similarities are meaningless but small, so text searches use min=-1; image
// similarities are exact (an image is most similar to itself and its byte-identical copy).

const box = (page: Page) => page.getByRole("searchbox", { name: "Search your images" });
const status = (page: Page) => page.locator("#status");
const cards = (page: Page) => page.locator("#results li.card");

test("typing updates results without a page load and the URL follows", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?min=-1");
  await expect(box(page)).toBeFocused();
  await expect(page.locator(".index-info")).toContainText("13 images · model test-tiny");
  await expect(status(page)).toHaveText("Type to search your images, or drop an image here.");
  // A mark on this document: a page load (even a reload of the same URL) would remove it. (The
  // count of navigation entries cannot tell: a reload replaces the one entry.)
  await page.evaluate(() => ((window as any).__sameDocument = true));

  await box(page).pressSequentially("a red bicycle", { delay: 20 });
  await expect(status(page)).toContainText("for “a red bicycle”");
  await expect(cards(page)).toHaveCount(13);
  await expect(page).toHaveURL(/\?q=a%20red%20bicycle&min=-1$/);
  await expect(cards(page).first().locator(".score")).toHaveText(/^-?\d\.\d{3}$/);
  expect(await page.evaluate(() => (window as any).__sameDocument), "typing loaded a new page").toBe(true);

  // A new search adds a history entry; the back button brings the previous one back.
  await box(page).fill("snowy mountains");
  await expect(page).toHaveURL(/q=snowy%20mountains/);
  await expect(status(page)).toContainText("“snowy mountains”");
  await page.goBack();
  await expect(page).toHaveURL(/q=a%20red%20bicycle/);
  await expect(box(page)).toHaveValue("a red bicycle");
  await expect(status(page)).toContainText("“a red bicycle”");

  // Fewer results on request.
  await page.getByLabel("Results per page").selectOption("10");
  await expect(cards(page)).toHaveCount(10);
  await expect(page).toHaveURL(/k=10/);
  await shot(page, info, "results");
  expect(errors).toEqual([]);
});

test("a slow older response never overwrites a newer one", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?min=-1");
  // Hold back the answer for the first query until the second has been answered.
  let releaseSlow: () => void = () => {};
  const slowHeld = new Promise<void>((r) => (releaseSlow = r));
  let firstArrived: () => void = () => {};
  const firstHeld = new Promise<void>((r) => (firstArrived = r));
  await page.route(/\/api\/search\?q=first/, async (route) => {
    firstArrived();
    await slowHeld;
    await route.continue().catch(() => {}); // the page may have dropped it meanwhile
  });
  const isFirst = (r: { url(): string }) => r.url().includes("q=first");
  const firstDone = Promise.race([
    page.waitForEvent("requestfinished", { predicate: isFirst, timeout: 20_000 }),
    page.waitForEvent("requestfailed", { predicate: isFirst, timeout: 20_000 }),
  ]);
  await box(page).fill("first query");
  await firstHeld; // the request for "first query" is in flight, and held
  await box(page).fill("second query");
  await expect(status(page)).toContainText("“second query”");
  releaseSlow();
  await firstDone; // the older answer has reached the page (or the page dropped it)
  await page.waitForTimeout(300); // a frame or two for a (wrong) re-render to show
  await expect(status(page)).toContainText("“second query”");
  await expect(box(page)).toHaveValue("second query");
  await shot(page, info, "newest wins");
  expect(errors).toEqual([]);
});

test("more like this puts the identical copy first", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?q=photo&min=-1");
  const card = cards(page).filter({ has: page.locator('.path[title="photo.jpg"]') });
  await card.getByRole("link", { name: "More like this" }).click();
  await expect(page).toHaveURL(/like=\d+/);
  await expect(status(page)).toContainText("images like photo.jpg");
  await expect(cards(page).first().locator(".path")).toHaveText("backup/photo copy.jpg");
  await expect(cards(page).first().locator(".score")).toHaveText("1.000");
  await shot(page, info, "more like this");
  expect(errors).toEqual([]);
});

test("searching with an uploaded image finds that image first", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page);
  await page.locator("#image-search").setInputFiles("../tests/fixtures/images/cmyk.jpg");
  await expect(status(page)).toContainText("images like cmyk.jpg");
  await expect(cards(page).first().locator(".path")).toHaveText("print/cmyk.jpg");
  // Not an image: a clear error, not a blank page.
  await page.locator("#image-search").setInputFiles("../README.md");
  await expect(status(page)).toHaveClass(/error/);
  await expect(status(page)).toContainText("not a usable image");
  await shot(page, info, "upload");
  expect(errors.filter((e) => !e.includes("415"))).toEqual([]);
});

test("the lightbox works from the keyboard", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?q=anything&min=-1");
  await expect(cards(page)).toHaveCount(13);
  await cards(page).first().locator("a.thumb").focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText("1 of 13");
  await expect(page.getByRole("button", { name: "Close" })).toBeFocused();
  await page.keyboard.press("ArrowRight");
  await expect(dialog).toContainText("2 of 13");
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");
  await expect(dialog).toContainText("13 of 13");
  await shot(page, info, "lightbox");
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("bad input shows an error and the API answers 4xx with a message", async ({ page, request }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?q=dog&k=0");
  await expect(status(page)).toHaveClass(/error/);
  await expect(status(page)).toContainText("k must be a whole number from 1 to 200");
  await shot(page, info, "bad k");

  const cases: [string, number, string][] = [
    [`/api/search?q=${"x".repeat(2001)}`, 400, "too long"],
    ["/api/search?q=%20%20", 400, "Type something"],
    ["/api/search", 400, "Type something"],
    ["/api/search?q=dog&k=abc", 400, "k must be"],
    ["/api/search?q=dog&min=7", 400, "minimum similarity"],
    ["/api/similar?id=999999", 404, "no image #999999"],
    ["/api/similar?id=..%2Fetc", 400, "id is a number"],
    ["/image/..%2F..%2Fetc%2Fpasswd", 400, "ids are numbers"],
    ["/thumb/999999", 404, "no image"],
  ];
  for (const [url, code, text] of cases) {
    const r = await request.get(url);
    expect(r.status(), url).toBe(code);
    expect((await r.text()).toLowerCase(), url).toContain(text.toLowerCase());
  }
  const json = await (await request.get("/api/search?q=dog&k=2&min=-1")).json();
  expect(json.hits).toHaveLength(2);
  expect(Object.keys(json.hits[0])).toEqual(["id", "path", "score", "width", "height", "thumb", "image", "view", "taken", "taken_source", "kind", "matched"]);
  expect(json.hits[0].matched).toEqual(["picture"]);
  const img = await request.get(json.hits[0].thumb);
  expect(img.headers()["content-type"]).toBe("image/jpeg");
  expect(img.headers()["cache-control"]).toContain("max-age");
  expect(errors.filter((e) => !e.includes("400"))).toEqual([]);
});

test("errors are JSON with their status; images answer ETag, 304 and Range", async ({ request }) => {
  const cases: [string, number][] = [
    ["/api/search?q=%20", 400],
    ["/api/search?q=dog&k=abc", 400],
    ["/api/similar?id=999999", 404],
    ["/image/abc", 400],
    ["/thumb/999999", 404],
  ];
  for (const [url, code] of cases) {
    const r = await request.get(url);
    expect(r.status(), url).toBe(code);
    const body = await r.json();
    expect(body.status, url).toBe(code);
    expect(body.error, url).toMatch(/\w/);
  }
  const upload = (name: string, buffer: Buffer) =>
    request.post("/api/search_image", { multipart: { image: { name, mimeType: "application/octet-stream", buffer } } });
  const tooBig = await upload("big.jpg", Buffer.alloc(21 << 20, 7));
  expect(tooBig.status()).toBe(413);
  expect(await tooBig.json()).toEqual({ error: "The image is larger than 20 MB.", status: 413 });
  for (const file of ["../README.md", "../tests/fixtures/broken/aspect-bomb.png"]) {
    const r = await upload(file.split("/").pop()!, readFileSync(file));
    expect(r.status(), file).toBe(415);
    const body = await r.json();
    expect(body.status).toBe(415);
    expect(body.error).toContain("not a usable image");
  }
  const aspect = await (await upload("strip.png", readFileSync("../tests/fixtures/broken/aspect-bomb.png"))).json();
  expect(aspect.error).toContain("sides differ more than 256 times");
  // The server is still there.
  expect((await request.get("/api/status")).status()).toBe(200);

  const hit = (await (await request.get("/api/search?q=dog&k=1&min=-1")).json()).hits[0];
  const full = await request.get(hit.image);
  expect(full.status()).toBe(200);
  const etag = full.headers()["etag"];
  expect(etag).toMatch(/^"o[0-9a-f]{32}-[0-9a-f]+-[0-9a-f]+"$/);
  expect(full.headers()["last-modified"]).toBeTruthy();
  expect(full.headers()["accept-ranges"]).toBe("bytes");
  expect((await request.get(hit.image, { headers: { "If-None-Match": etag } })).status()).toBe(304);
  const part = await request.get(hit.image, { headers: { Range: "bytes=0-9" } });
  expect(part.status()).toBe(206);
  expect(part.headers()["content-range"]).toMatch(/^bytes 0-9\/\d+$/);
  expect(Buffer.compare(await part.body(), (await full.body()).subarray(0, 10))).toBe(0);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("the same URL renders results on the server", async ({ page }, info) => {
    await page.goto("/?q=a%20dog&min=-1");
    await expect(cards(page)).toHaveCount(13);
    await expect(status(page)).toContainText("13 images for “a dog”");
    // The form is a plain GET form.
    await page.locator("#q").fill("a cat");
    await page.getByRole("button", { name: "Go" }).click();
    await expect(page).toHaveURL(/q=a\+cat/);
    await expect(status(page)).toContainText("for “a cat”");
    await shot(page, info, "no javascript");
  });
});

test("the page ships a favicon", async ({ request }) => {
  const icon = await request.get("/favicon.ico");
  expect(icon.status()).toBe(200);
  expect((await icon.body()).length).toBeGreaterThan(100);
});

test("filters by folder and date go into the URL, and back restores them", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/?q=photo&min=-1");
  await expect(cards(page)).toHaveCount(13);
  await page.getByText("Filters and order").click();
  const folder = page.getByLabel("Folder");
  await folder.fill("dated");
  await folder.press("Tab");
  await expect(page).toHaveURL(/folder=dated/);
  await expect(cards(page)).toHaveCount(2);
  // Ranked by similarity, either may come first; each card shows its capture date.
  await expect.poll(async () => (await cards(page).locator(".taken").allInnerTexts()).sort()).toEqual(["2021-12-24", "2023-06-15"]);
  await page.getByLabel("Taken from").fill("2023-01-01");
  await expect(page).toHaveURL(/folder=dated&after=2023-01-01/);
  await expect(cards(page)).toHaveCount(1);
  await expect(cards(page).first()).toContainText("beach.jpg");
  await shot(page, info, "filtered");

  await page.goBack();
  await expect(page).toHaveURL(/folder=dated$/);
  await expect(cards(page)).toHaveCount(2);
  await expect(page.getByLabel("Taken from")).toHaveValue("");
  await page.goBack();
  await expect(page).toHaveURL(/\?q=photo&min=-1$/);
  await expect(cards(page)).toHaveCount(13);
  await expect(folder).toHaveValue("");

  // Newest first: the 2023 photo before the 2021 one.
  await openHydrated(page, "/?q=photo&min=-1&folder=dated&sort=newest");
  await expect(page.getByLabel("Order")).toHaveValue("newest");
  await expect(cards(page).locator(".taken")).toHaveText(["2023-06-15", "2021-12-24"]);
  expect(errors).toEqual([]);
});

test("the Duplicates page shows the known copies side by side", async ({ page }, info) => {
  const errors = watchErrors(page);
  await openHydrated(page, "/duplicates");
  const exact = page.locator('#groups > li[data-kind="exact"]');
  await expect(exact).toHaveCount(1);
  await exact.locator("summary").click();
  // Same size: ordered by path.
  await expect(exact.locator(".member .path")).toHaveText(["backup/photo copy.jpg", "photo.jpg"]);
  await expect(exact.locator(".member .facts").first()).toContainText("similarity 1.000");
  await shot(page, info, "duplicates");
  // The strictest threshold keeps byte-identical copies only; the URL carries it.
  await page.locator("#threshold").fill("1");
  await expect(page).toHaveURL(/duplicates\?threshold=1$/);
  await expect(page.locator('#groups > li:not([data-kind="exact"])')).toHaveCount(0);
  await expect(exact).toHaveCount(1);
  expect(errors).toEqual([]);
});
