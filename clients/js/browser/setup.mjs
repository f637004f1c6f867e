// guardian's setup page in Debian's Chromium: sign-in through an OpenID Connect stand-in
// (authorization code + PKCE, ES256 id_tokens with the nonce claim), export after a fresh
// sign-in, and sign-in with Okta (the keyward host's Okta stand-in). The end-to-end test
// `browser` starts the host configured for this stand-in and runs this script.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { createServer } from "node:http";
import path from "node:path";

import { HDNodeWallet } from "ethers";

import { env, launchChromium } from "./harness.mjs";

const keyward = env("KEYWARD_BASE");
const idpPort = Number(env("KEYWARD_IDP_PORT"));
const clientId = env("KEYWARD_OIDC_CLIENT_ID");
const screenshots = env("KEYWARD_SCREENSHOT_DIR");
const issuer = `http://127.0.0.1:${idpPort}`;

// ---- the OpenID Connect stand-in -------------------------------------------------------------
const b64url = (buf) => Buffer.from(buf).toString("base64url");
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = { ...publicKey.export({ format: "jwk" }), kid: "setup-1", alg: "ES256", use: "sig" };
const codes = new Map();
const authorizations = [];
function idToken(claims) {
  const header = b64url(JSON.stringify({ alg: "ES256", kid: "setup-1", typ: "JWT" }));
  const payload = b64url(JSON.stringify(claims));
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
  return `${header}.${payload}.${b64url(signature)}`;
}
const idp = createServer((req, res) => {
  const url = new URL(req.url, issuer);
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader("access-control-allow-headers", "content-type");
  const json = (status, v) => {
    res.statusCode = status;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(v));
  };
  if (req.method === "OPTIONS") return res.end();
  if (url.pathname === "/.well-known/openid-configuration") {
    return json(200, {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
    });
  }
  if (url.pathname === "/jwks") return json(200, { keys: [jwk] });
  if (url.pathname === "/authorize") {
    const q = Object.fromEntries(url.searchParams);
    authorizations.push(q);
    if (q.client_id !== clientId || q.response_type !== "code" || q.code_challenge_method !== "S256") {
      return json(400, { error: "invalid_request" });
    }
    // Signs the user in at once (the stand-in has one user) and sends them back.
    const code = b64url(randomBytes(16));
    codes.set(code, q);
    res.statusCode = 302;
    res.setHeader("location", `${q.redirect_uri}?code=${code}&state=${encodeURIComponent(q.state)}`);
    return res.end();
  }
  if (url.pathname === "/token" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const form = new URLSearchParams(body);
      const q = codes.get(form.get("code"));
      codes.delete(form.get("code"));
      const verifier = form.get("code_verifier") ?? "";
      if (!q || form.get("redirect_uri") !== q.redirect_uri || form.get("client_id") !== clientId) {
        return json(400, { error: "invalid_grant" });
      }
      if (b64url(createHash("sha256").update(verifier).digest()) !== q.code_challenge) {
        return json(400, { error: "invalid_grant", error_description: "PKCE verifier mismatch" });
      }
      const now = Math.floor(Date.now() / 1000);
      json(200, {
        token_type: "Bearer",
        access_token: b64url(randomBytes(16)),
        id_token: idToken({
          iss: issuer, aud: clientId, sub: "setup-user", email: "setup@example.com", email_verified: true,
          nonce: q.nonce, iat: now, exp: now + 300, auth_time: now,
        }),
      });
    });
    return;
  }
  json(404, { error: "not_found" });
});
await new Promise((resolve) => idp.listen(idpPort, "127.0.0.1", resolve));

// ---- the browser ------------------------------------------------------------------------------
const browser = await launchChromium();
let failed = false;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const response = await page.goto(`${keyward}/guardian/setup`);
  const csp = response.headers()["content-security-policy"] ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  await page.waitForSelector("#oidc-login", { state: "visible" });
  await page.screenshot({ path: path.join(screenshots, "setup-sign-in.png"), fullPage: true });

  // Sign in with OpenID Connect: the address shows, and the code is gone from the URL.
  await page.click("#oidc-login");
  await page.waitForSelector("#account", { state: "visible", timeout: 30_000 });
  const address = (await page.textContent("#address")).trim();
  assert.match(address, /^0x[0-9a-fA-F]{40}$/, await page.textContent("#status"));
  assert.ok(!page.url().includes("code="), page.url());
  assert.equal(authorizations.length, 1);
  assert.ok(authorizations[0].nonce && authorizations[0].code_challenge);
  await page.screenshot({ path: path.join(screenshots, "setup-address.png"), fullPage: true });

  // Export: behind the confirmation, after a fresh sign-in (prompt=login), the phrase that
  // derives the same address.
  assert.equal(await page.isDisabled("#export-start"), true);
  await page.check("#export-understood");
  await page.click("#export-start");
  await page.waitForSelector("#phrase-box", { state: "visible", timeout: 30_000 });
  assert.equal(authorizations[1]?.prompt, "login");
  assert.equal(authorizations[1]?.max_age, "0");
  const phrase = (await page.textContent("#phrase")).trim();
  assert.equal(HDNodeWallet.fromPhrase(phrase).address, address);
  await page.screenshot({ path: path.join(screenshots, "setup-export.png"), fullPage: true });
  await page.click("#phrase-hide");
  assert.equal((await page.textContent("#phrase")).trim(), "");
  console.log(`setup page, OpenID Connect: ok (${address}, exported after a fresh sign-in)`);

  // Okta, in a fresh browser context (keyboard only: tab to the fields, enter to submit).
  const okta = await (await browser.newContext()).newPage();
  await okta.goto(`${keyward}/guardian/setup`);
  await okta.waitForSelector("#okta", { state: "visible" });
  await okta.focus("#okta-username");
  await okta.keyboard.type(env("KEYWARD_OKTA_USER"));
  await okta.keyboard.press("Tab");
  await okta.keyboard.type("pw");
  await okta.keyboard.press("Enter");
  await okta.waitForSelector("#account", { state: "visible", timeout: 30_000 });
  const oktaAddress = (await okta.textContent("#address")).trim();
  assert.match(oktaAddress, /^0x[0-9a-fA-F]{40}$/);
  assert.notEqual(oktaAddress, address);
  await okta.screenshot({ path: path.join(screenshots, "setup-okta.png"), fullPage: true });
  console.log(`setup page, Okta: ok (${oktaAddress})`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
  idp.close();
}
process.exit(failed ? 1 : 0);
