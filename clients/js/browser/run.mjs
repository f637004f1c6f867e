// The SDK in a real browser: Debian's Chromium, headless, driven by playwright-core (nothing
// downloads a browser). A small server on loopback plays the web app: it serves the pages and the
// SDK's ES modules, and its /real-service routes are the app's server (the Real Service), which
// holds the namespace secret and stores only ciphertext. The end-to-end test `browser` runs this
// with the keyward host's address and the page server's port in the environment.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Transaction, verifyMessage, verifyTypedData } from "ethers";

import { env, launchChromium } from "./harness.mjs";

import { connect } from "../dist/esm/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "..");
const keywardBase = env("KEYWARD_BASE");
const port = Number(env("KEYWARD_PAGE_PORT"));
const screenshots = env("KEYWARD_SCREENSHOT_DIR");

// Operator, once: the web app's namespace.
const created = await fetch(`${keywardBase}/admin/namespaces`, {
  method: "POST",
  headers: { authorization: `Bearer ${env("KEYWARD_ADMIN_TOKEN")}` },
  body: JSON.stringify({ namespace: "browser-app" }),
});
assert.equal(created.status, 201, await created.clone().text());
const namespace = await created.json();

const typed = {
  domain: { name: "Mail", version: "1", chainId: 1, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" },
  types: { Mail: [{ name: "contents", type: "string" }, { name: "amount", type: "uint256" }] },
  value: { contents: "hello", amount: "100000000000000000000" },
};
const transaction = {
  type: 2, chainId: "1", nonce: 3, gasLimit: "21000", maxFeePerGas: "2000000000",
  maxPriorityFeePerGas: "1000000000", to: "0x000000000000000000000000000000000000dEaD", value: "12345",
};
const documents = new Map();
const types = { ".html": "text/html", ".js": "text/javascript", ".map": "application/json" };
const file = (res, p) => {
  res.setHeader("content-type", types[path.extname(p)] ?? "application/octet-stream");
  res.end(readFileSync(p));
};
const body = (req) =>
  new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
  });

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  try {
    if (url.pathname === "/config") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keywardBase, guardianUser: env("KEYWARD_GUARDIAN_USER"), typed, transaction }));
    } else if (url.pathname === "/real-service/connect") {
      // The app's server vouches for its logged-in user (here: always "diarist").
      const { initTokenHash } = JSON.parse((await body(req)).toString());
      const sessionToken = await connect(
        { baseUrl: keywardBase },
        { namespace: namespace.namespace, secret: namespace.secret, userId: "diarist", initTokenHash },
      );
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ sessionToken }));
    } else if (url.pathname.startsWith("/real-service/documents/")) {
      if (req.method === "PUT") {
        documents.set(url.pathname, await body(req));
        res.end();
      } else {
        res.end(documents.get(url.pathname) ?? Buffer.alloc(0));
      }
    } else if (url.pathname.startsWith("/sdk/")) {
      file(res, path.join(pkg, "dist/esm", path.basename(url.pathname)));
    } else if (url.pathname === "/ethers.js") {
      file(res, path.join(pkg, "node_modules/ethers/dist/ethers.js"));
    } else if (/^\/[a-z]+\.html$/.test(url.pathname)) {
      file(res, path.join(here, url.pathname));
    } else {
      res.statusCode = 404;
      res.end();
    }
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
});
await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));

const browser = await launchChromium();
let failed = false;
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // keyservice: the whole flow in the page; the Real Service saw ciphertext only.
  await page.goto(`http://127.0.0.1:${port}/keyservice.html`);
  await page.waitForFunction(() => document.getElementById("status").textContent !== "running", null, { timeout: 30_000 });
  await page.screenshot({ path: path.join(screenshots, "sdk-keyservice.png"), fullPage: true });
  assert.equal(await page.textContent("#status"), "ok", `keyservice page: ${errors.join("; ")}`);
  const entry = await page.inputValue("#entry");
  assert.equal(await page.textContent("#readback"), entry);
  const stored = documents.get("/real-service/documents/diary-1");
  assert.ok(stored && stored.length > 28, "the Real Service stored nothing");
  assert.ok(!stored.toString("latin1").includes("diary"), "the Real Service saw plaintext");
  console.log(`keyservice page: ok (the Real Service holds ${stored.length} bytes of ciphertext)`);

  // guardian: signatures made in the page through KeywardSigner, verified here by ethers.
  await page.goto(`http://127.0.0.1:${port}/guardian.html`);
  await page.waitForFunction(() => document.getElementById("status").textContent !== "running", null, { timeout: 30_000 });
  await page.screenshot({ path: path.join(screenshots, "sdk-guardian.png"), fullPage: true });
  assert.equal(await page.textContent("#status"), "ok", `guardian page: ${errors.join("; ")}`);
  const address = await page.textContent("#address");
  assert.equal(verifyMessage("hello from the browser", await page.textContent("#message-signature")), address);
  assert.equal(verifyTypedData(typed.domain, typed.types, typed.value, await page.textContent("#typed-signature")), address);
  const tx = Transaction.from(await page.textContent("#transaction"));
  assert.equal(tx.from, address);
  assert.equal(tx.value, 12345n);
  console.log(`guardian page: ok (${address})`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
