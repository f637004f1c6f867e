/**
 * The `ss1` session header (keyservice's request signing) and the init-token hash, with
 * WebCrypto only. The same construction as the server's verifier, checked against the
 * specification's test vectors (test/ss1.test.mjs):
 *
 *   hash = hex(HMAC-SHA512(key = UTF-8(secret), nonce ‖ METHOD ‖ path+query ‖ body ‖ date))
 *   Authorization: ss1 keyid=<keyid>, hash=<hash>, nonce=<hex nonce>
 *   X-Date: <IMF-fixdate>
 */

const encoder = new TextEncoder();

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) {
    throw new Error("WebCrypto is not available: use a browser over https, or Node.js 20+");
  }
  return s;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An HTTP date (IMF-fixdate) for `ms` since the epoch. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** A fresh 64-byte nonce from the platform's CSPRNG. */
export function freshNonce(): Uint8Array {
  const nonce = new Uint8Array(64);
  globalThis.crypto.getRandomValues(nonce);
  return nonce;
}

/** The headers of one signed request. `nonce` and `date` are for vectors and tests only. */
export async function ss1Headers(
  keyid: string,
  secret: string,
  method: string,
  pathAndQuery: string,
  body: Uint8Array,
  date: string,
  nonce: Uint8Array = freshNonce(),
): Promise<{ authorization: string; "x-date": string }> {
  // As the server's verifier takes them: non-empty, no control characters, no surrounding
  // blanks, and no ',' or '=' (which would split or cut the header's parameters).
  if (keyid === "" || keyid.trim() !== keyid || /[\u0000-\u001f\u007f,=]/.test(keyid)) {
    throw new Error("a keyid must be non-empty, without control characters, ',' or '=', or surrounding blanks");
  }
  const key = await subtle().importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-512" },
    false,
    ["sign"],
  );
  const message = concat([
    nonce,
    encoder.encode(method),
    encoder.encode(pathAndQuery),
    body,
    encoder.encode(date),
  ]);
  const mac = new Uint8Array(await subtle().sign("HMAC", key, message as BufferSource));
  return {
    authorization: `ss1 keyid=${keyid}, hash=${hex(mac)}, nonce=${hex(nonce)}`,
    "x-date": date,
  };
}

/**
 * The `initTokenHash` a browser hands to its Real Service: padded standard base64 of the
 * SHA-512 of the init token. The Real Service sends it to `/connect`; the token itself never
 * leaves the browser.
 */
export async function initTokenHash(initToken: string): Promise<string> {
  const digest = new Uint8Array(
    await subtle().digest("SHA-512", encoder.encode(initToken) as BufferSource),
  );
  let binary = "";
  for (const b of digest) binary += String.fromCharCode(b);
  return btoa(binary);
}
