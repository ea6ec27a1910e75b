import { test, expect, Page } from "@playwright/test";

// The formats library of scripts/e2e-data.sh: a HEIC, a DNG and a JPEG XL photo (which browsers
// cannot show), a Live Photo (a HEIC still with its MOV clip beside it) and a Google motion photo
// (a JPEG with its clip inside), all made by the real encoders from the demo world's shapes.

async function search(page: Page, query: string) {
  await page.goto("/");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await page.getByRole("searchbox", { name: "Search your images" }).pressSequentially(query, { delay: 20 });
  await expect(page.locator("#status")).toContainText(`for “${query}”`);
  return page.locator("#results li.card").first();
}

/// The image's decoded width in the page (0 when the browser could not decode what it got).
async function naturalWidth(img: ReturnType<Page["locator"]>) {
  await expect.poll(async () => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0), { timeout: 10_000 }).toBe(true);
  return img.evaluate((i: HTMLImageElement) => i.naturalWidth);
}

for (const [query, file] of [
  ["a purple heart", "heart.heic"],
  ["an orange star", "star.dng"],
  ["an orange circle", "circle.jxl"],
]) {
  test(`${file} shows as a JPEG thumbnail and a JPEG in the viewer`, async ({ page, request }, info) => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const first = await search(page, query);
    await expect(first.locator(".path")).toHaveText(file);
    const thumb = first.locator("img");
    expect(await naturalWidth(thumb), "the thumbnail decodes in the browser").toBeGreaterThan(0);
    const thumbUrl = await thumb.getAttribute("src");
    const served = await request.get(thumbUrl!);
    expect(served.headers()["content-type"]).toBe("image/jpeg");

    await first.locator("a.thumb").click();
    const shown = page.locator(".lightbox img");
    await expect(shown).toHaveAttribute("src", /^\/view\/\d+$/);
    expect(await naturalWidth(shown), "the viewer's rendition decodes").toBeGreaterThan(100);
    // The original stays downloadable as it is.
    const id = (await shown.getAttribute("src"))!.split("/").pop();
    const original = await request.get(`/image/${id}`);
    expect(original.headers()["content-type"]).not.toBe("image/jpeg");
    await info.attach(`${file} in the viewer`, { body: await page.screenshot({ fullPage: false }), contentType: "image/png" });
    expect(errors).toEqual([]);
  });
}

test("a Live Photo is one card marked LIVE, found by what its clip shows", async ({ page }) => {
  const first = await search(page, "a blue circle");
  await expect(first.locator(".path")).toHaveText("IMG_0001.heic");
  await expect(first.locator(".live")).toHaveText("LIVE");
  await expect(page.locator("#results li.card .path", { hasText: "IMG_0001.mov" }), "the clip is not a card of its own").toHaveCount(0);
  await first.locator("a.thumb").click();
  const player = page.locator(".lightbox video.motion");
  await expect(player).toHaveAttribute("src", /^\/image\/\d+$/);
  await expect(player).toHaveAttribute("poster", /^\/view\/\d+$/);
});

test("a motion photo plays the clip inside its JPEG", async ({ page }, info) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const first = await search(page, "a green triangle");
  await expect(first.locator(".path")).toHaveText("PXL_0002.MP.jpg");
  await expect(first.locator(".live")).toHaveText("LIVE");
  await first.locator("a.thumb").click();
  const player = page.locator(".lightbox video.motion");
  await expect(player).toHaveAttribute("src", /^\/motion\/\d+$/);
  // The browser opens the clip cut from the file: it knows its length and its picture size.
  await expect.poll(async () => player.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
  const [duration, width] = await player.evaluate((v: HTMLVideoElement) => [v.duration, v.videoWidth]);
  expect(duration).toBeGreaterThan(2.5);
  expect(duration).toBeLessThan(3.5);
  expect(width).toBe(320);
  await info.attach("motion photo", { body: await page.screenshot({ fullPage: false }), contentType: "image/png" });
  expect(errors).toEqual([]);
});
