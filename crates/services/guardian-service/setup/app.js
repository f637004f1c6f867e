// guardian's setup page (docs/guardian.md, "Design: setup page"). Plain script, no build step:
// it speaks to guardian's public end-user routes only.
//
// OpenID Connect: authorization code with PKCE, the nonce bound to this login (the provider gets
// the nonce's SHA-256, guardian the nonce), the state checked; nothing but the login's
// PKCE verifier, state and nonce is kept, in session storage, and only until the provider
// answers. Tokens stay in memory and are spent at once.

const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);
const PENDING = "keyward-setup-pending";

function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
const random = (n) => base64url(crypto.getRandomValues(new Uint8Array(n)));
const sha256 = async (text) =>
  base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));

async function call(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(answer.message ? `${answer.message} (${answer.code})` : `HTTP ${r.status}`);
  return answer;
}

/** Shows the address, and ends the login's token chain: the page needs nothing more. */
async function signedIn(login) {
  $("address").textContent = login.address;
  $("created").hidden = !login.created;
  $("account").hidden = false;
  $("login").hidden = true;
  status("");
  await call("POST", "/guardian/logout", {}, login.client_token).catch(() => {});
  if (config.export.allowed) $("export").hidden = false;
}

/** Exports with a login made just now for it (its token is the only one that may). */
async function exportWith(login) {
  let answer;
  try {
    answer = await call("POST", "/guardian/export", undefined, login.client_token);
  } catch (e) {
    // A refused export leaves its token unspent: end that chain too.
    await call("POST", "/guardian/logout", {}, login.client_token).catch(() => {});
    throw e;
  }
  $("phrase").textContent = answer.mnemonic;
  $("hd-path").textContent = answer.hd_path;
  $("address").textContent = answer.address;
  $("account").hidden = false;
  $("login").hidden = true;
  $("export").hidden = false;
  $("phrase-box").hidden = false;
  $("phrase").focus();
  status("");
}

// How the user signed in: export asks the same provider again, since another provider is
// another identity (and another key).
const METHOD = "keyward-setup-method";

async function finish(login, purpose, method) {
  sessionStorage.setItem(METHOD, method);
  if (purpose === "export") await exportWith(login);
  else await signedIn(login);
}

// ---- OpenID Connect -------------------------------------------------------------------------

async function discovery() {
  const r = await fetch(`${config.oidc.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (!r.ok) throw new Error(`the identity provider's discovery document: HTTP ${r.status}`);
  return r.json();
}

async function oidcStart(purpose) {
  const meta = await discovery();
  const pending = { verifier: random(32), state: random(16), nonce: random(32), purpose };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.oidc.client_id,
    redirect_uri: location.origin + location.pathname,
    scope: "openid email",
    state: pending.state,
    nonce: await sha256(pending.nonce),
    code_challenge: await sha256(pending.verifier),
    code_challenge_method: "S256",
  });
  // Export needs a fresh authentication, not a remembered session.
  if (purpose === "export") {
    query.set("prompt", "login");
    query.set("max_age", "0");
  }
  location.assign(`${meta.authorization_endpoint}?${query}`);
}

async function oidcFinish(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null");
  sessionStorage.removeItem(PENDING);
  // The code is single-use and must not stay in the address bar or the history.
  history.replaceState(null, "", location.pathname);
  if (!pending || params.get("state") !== pending.state) {
    throw new Error("this sign-in was not started here (state mismatch); start again");
  }
  if (params.get("error")) throw new Error(`the identity provider refused: ${params.get("error")}`);
  const meta = await discovery();
  const r = await fetch(meta.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code") ?? "",
      redirect_uri: location.origin + location.pathname,
      client_id: config.oidc.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await r.json().catch(() => ({}));
  if (!r.ok || !tokens.id_token) throw new Error("the identity provider gave no id_token");
  status("Signing in…");
  const login = await call("POST", "/guardian/login", {
    id_token: tokens.id_token,
    nonce: pending.nonce,
    get_address: true,
  });
  await finish(login, pending.purpose, "oidc");
}

// ---- Okta ------------------------------------------------------------------------------------

let oktaPurpose = "login";

async function oktaLogin(event) {
  event.preventDefault();
  status("Signing in… approve the push on your phone.");
  const form = new FormData($("okta"));
  const login = await call("POST", "/guardian/login", {
    okta_username: form.get("username"),
    okta_password: form.get("password"),
    get_address: true,
  });
  $("okta-password").value = "";
  await finish(login, oktaPurpose, "okta");
}

// ---- wiring ----------------------------------------------------------------------------------

const fail = (e) => {
  $("login").hidden = false;
  status(`Something went wrong: ${e.message}`);
};
const config = await fetch("/guardian/setup/config").then((r) => r.json());

$("login").hidden = false;
$("oidc").hidden = !config.oidc;
$("okta").hidden = !config.okta;
if (!config.oidc && !config.okta) status("No sign-in is configured on this service yet.");
$("oidc-login").addEventListener("click", () => oidcStart("login").catch(fail));
$("okta").addEventListener("submit", (e) => oktaLogin(e).catch(fail));
$("export-understood").addEventListener("change", (e) => ($("export-start").disabled = !e.target.checked));
$("export-start").addEventListener("click", () => {
  const method = sessionStorage.getItem(METHOD) ?? (config.oidc ? "oidc" : "okta");
  if (method === "oidc" && config.oidc) {
    oidcStart("export").catch(fail);
  } else {
    oktaPurpose = "export";
    $("login").hidden = false;
    status("Sign in again to export.");
    $("okta-username").focus();
  }
});
$("phrase-hide").addEventListener("click", () => {
  $("phrase").textContent = "";
  $("phrase-box").hidden = true;
});

const params = new URLSearchParams(location.search);
if (params.has("code") || params.has("error")) {
  $("login").hidden = true;
  status("Finishing sign-in…");
  oidcFinish(params).catch(fail);
}
