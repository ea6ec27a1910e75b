// cargo-leptos starts the server and the tests together: wait until it answers.
export default async function globalSetup() {
  const url = process.env.CLIPFIND_URL ?? "http://127.0.0.1:3000";
  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`clipfind did not answer at ${url} within 60 s (${last})`);
}
