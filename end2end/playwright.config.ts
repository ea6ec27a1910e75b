import { defineConfig } from "@playwright/test";
import path from "node:path";

const repo = path.resolve(__dirname, "..");
// The default demo data as `make run` serves it: samples/ with the bundled demo model (pinned,
// so a machine with ViT-B/32 installed runs the same test), indexed by scripts/e2e-data.sh.
const demoAddr = "127.0.0.1:3002";
// A watch-mode server on target/e2e/live (scripts/e2e-data.sh) for the live-library test.
const liveAddr = "127.0.0.1:3003";
// The same samples with the bilingual demo model (Chinese and English queries).
const bilingualAddr = "127.0.0.1:3005";
// A video and a photo (target/e2e/videos, made by scripts/e2e-data.sh) with the bilingual demo model.
const videoAddr = "127.0.0.1:3004";
// HEIC, RAW, JPEG XL, a Live Photo and a motion photo (target/e2e/formats, scripts/e2e-data.sh).
const formatsAddr = "127.0.0.1:3008";
const milvusAddr = "127.0.0.1:3006";
// Screenshots, a receipt and a sign with words in them (target/e2e/words, scripts/e2e-data.sh).
const wordsAddr = "127.0.0.1:3009";
// 100,000 synthetic photos (target/e2e/typing, scripts/e2e-data.sh) for the typing-latency test.
const typingAddr = "127.0.0.1:3010";
// The demo library again, with a password.
const loginAddr = "127.0.0.1:3007";

// Debian's Chromium, started the way this machine class needs (no network beyond loopback).
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: true,
  retries: 0,
  reporter: [["list"], ["html", { open: "never" }]],
  use: {
    baseURL: process.env.CLIPFIND_URL ?? "http://127.0.0.1:3000",
    // The page follows Accept-Language; the tests that want Chinese ask for it.
    locale: "en-US",
    screenshot: "on",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: chromiumArgs,
    },
  },
  projects: [
    { name: "chromium", testIgnore: /(demo|live|video|bilingual|milvus|login|formats|words|typing)\.spec\.ts/ },
    { name: "typing", testMatch: /typing\.spec\.ts/, use: { baseURL: `http://${typingAddr}` } },
    { name: "words", testMatch: /words\.spec\.ts/, use: { baseURL: `http://${wordsAddr}` } },
    { name: "formats", testMatch: /formats\.spec\.ts/, use: { baseURL: `http://${formatsAddr}` } },
    { name: "login", testMatch: /login\.spec\.ts/, use: { baseURL: `http://${loginAddr}` } },
    { name: "milvus", testMatch: /milvus\.spec\.ts/, use: { baseURL: `http://${milvusAddr}` } },
    { name: "bilingual", testMatch: /bilingual\.spec\.ts/, use: { baseURL: `http://${bilingualAddr}` } },
    { name: "video", testMatch: /video\.spec\.ts/, use: { baseURL: `http://${videoAddr}` } },
    { name: "demo", testMatch: /demo\.spec\.ts/, use: { baseURL: `http://${demoAddr}` } },
    { name: "live", testMatch: /live\.spec\.ts/, use: { baseURL: `http://${liveAddr}` } },
  ],
  webServer: [{
    command: "cargo run -q --release --no-default-features --features ssr -- serve",
    cwd: repo,
    url: `http://${demoAddr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: demoAddr,
      CLIPFIND_DATA: "samples",
      CLIPFIND_INDEX: "target/e2e/samples-index",
      CLIPFIND_MODEL: "models/clipfind-demo",
      CLIPFIND_DEVICE: "cpu",
    },
  }, {
    command: "cargo run -q --release --no-default-features --features ssr -- serve",
    cwd: repo,
    url: `http://${bilingualAddr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: bilingualAddr,
      CLIPFIND_DATA: "samples",
      CLIPFIND_INDEX: "target/e2e/samples-bilingual-index",
      CLIPFIND_MODEL: "models/clipfind-demo-bilingual",
      CLIPFIND_DEVICE: "cpu",
    },
  }, {
    command: "cargo run -q --release --no-default-features --features ssr -- serve --watch",
    cwd: repo,
    url: `http://${liveAddr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: liveAddr,
      CLIPFIND_DATA: "target/e2e/live",
      CLIPFIND_INDEX: "target/e2e/live-index",
      CLIPFIND_MODEL: "models/test-tiny",
      CLIPFIND_DEVICE: "cpu",
    },
  }, {
    command: "cargo run -q --release --no-default-features --features ssr -- serve",
    cwd: repo,
    url: `http://${videoAddr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: videoAddr,
      CLIPFIND_DATA: "target/e2e/videos",
      CLIPFIND_INDEX: "target/e2e/videos-index",
      CLIPFIND_MODEL: "models/clipfind-demo-bilingual",
      CLIPFIND_DEVICE: "cpu",
    },
  }, {
    command: "cargo run -q --release --no-default-features --features ssr -- serve",
    cwd: repo,
    url: `http://${formatsAddr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: formatsAddr,
      CLIPFIND_DATA: "target/e2e/formats",
      CLIPFIND_INDEX: "target/e2e/formats-index",
      CLIPFIND_MODEL: "models/clipfind-demo-bilingual",
      CLIPFIND_DEVICE: "cpu",
    },
  }, {
    command: "cargo run -q --release --no-default-features --features ssr -- serve",
    cwd: repo,
    url: `http://${wordsAddr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: wordsAddr,
      CLIPFIND_DATA: "target/e2e/words",
      CLIPFIND_INDEX: "target/e2e/words-index",
      CLIPFIND_MODEL: "models/test-tiny",
      CLIPFIND_DEVICE: "cpu",
    },
  }, {
    command: "cargo run -q --release --no-default-features --features ssr -- serve",
    cwd: repo,
    url: `http://${typingAddr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: typingAddr,
      CLIPFIND_DATA: "target/e2e/typing",
      CLIPFIND_INDEX: "target/e2e/typing/.clipfind",
      CLIPFIND_MODEL: "models/test-tiny",
      CLIPFIND_DEVICE: "cpu",
      CLIPFIND_THREADS: "2",
    },
  }, {
    command: "cargo run -q --release --no-default-features --features ssr -- serve",
    cwd: repo,
    // Answers 401 until signed in: the sign-in page is what shows the server is up.
    url: `http://${loginAddr}/login`,
    timeout: 180_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: loginAddr,
      CLIPFIND_DATA: "samples",
      CLIPFIND_INDEX: "target/e2e/samples-index",
      CLIPFIND_MODEL: "models/clipfind-demo",
      CLIPFIND_DEVICE: "cpu",
      CLIPFIND_PASSWORD: "correct horse battery",
    },
  }, {
    // The demo library with its vectors in a Milvus server the script starts (and stops with it).
    command: "scripts/e2e-milvus.sh",
    cwd: repo,
    url: `http://${milvusAddr}/`,
    timeout: 240_000,
    reuseExistingServer: false,
    env: {
      LEPTOS_OUTPUT_NAME: "clipfind",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      LEPTOS_SITE_ADDR: milvusAddr,
      MILVUS_PORT: "19540",
      CLIPFIND_DEVICE: "cpu",
    },
  }],
});
