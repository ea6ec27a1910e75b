import { test, expect } from "@playwright/test";

// A 30 s video of the demo world (a red square, a blue circle, a yellow star, 10 s each) beside a
// photo, as scripts/e2e-data.sh makes and indexes it: the video is found at the moment it shows
// what was asked for, and opening it plays from there.

test("a blue circle is found inside the video, which opens at that moment", async ({ page }, info) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await page.getByRole("searchbox", { name: "Search your images" }).pressSequentially("a blue circle", { delay: 20 });
  await expect(page.locator("#status")).toContainText("for “a blue circle”");

  const first = page.locator("#results li.card").first();
  await expect(first).toHaveClass(/video/);
  await expect(first.locator(".path")).toHaveText("shapes.webm");
  const badge = await first.locator(".moment").textContent();
  expect(badge, "the moment badge").toMatch(/^0:1\d$/);
  // The card's thumbnail is the frame of that moment.
  await expect(first.locator("img")).toHaveAttribute("src", /\/thumb\/\d+\?t=1\d{4}$/);
  await expect(page.locator("#results li.card .path", { hasText: "shapes.webm" }), "a video appears once").toHaveCount(1);

  await first.locator("a.thumb").click();
  const video = page.locator(".lightbox video");
  await expect(video).toBeVisible();
  // The browser starts it at the media fragment's time (served with Range requests).
  await expect.poll(async () => video.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
  const time = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  expect(time).toBeGreaterThanOrEqual(10);
  expect(time).toBeLessThan(20);
  await info.attach("video moment", { body: await page.screenshot({ fullPage: false }), contentType: "image/png" });
  expect(errors).toEqual([]);
});
