// The ss1 signer and the init-token hash against the specification's test vectors: the same
// vectors the server's verifier is tested with.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { initTokenHash, ss1Headers } from "../dist/esm/index.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const vectors = JSON.parse(
  readFileSync(
    process.env.KEYWARD_VECTORS ?? path.join(repo, "../shared/specs/vectors/sessionist.json"),
    "utf8",
  ),
);
const bytes = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16));

test("every ss1 vector signs to its header", async () => {
  assert.ok(vectors.length >= 10);
  for (const v of vectors) {
    const headers = await ss1Headers(
      v.keyid,
      v.secret,
      v.method,
      v.path,
      new TextEncoder().encode(v.body),
      v.date,
      bytes(v.nonce),
    );
    assert.equal(headers.authorization, v.header, v.name);
    assert.equal(headers["x-date"], v.date, v.name);
  }
});

test("keyids the server cannot read are refused before signing", async () => {
  for (const keyid of ["", " k", "k ", "a,b", "a=b", "a\nb"]) {
    await assert.rejects(ss1Headers(keyid, "s", "GET", "/key", new Uint8Array(), "d"), keyid);
  }
});

test("the init-token hash is padded base64 of SHA-512", async () => {
  // SHA-512("abc"), from FIPS 180-2.
  const expected = Buffer.from(
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    "hex",
  ).toString("base64");
  assert.equal(await initTokenHash("abc"), expected);
  assert.equal(expected.length, 88);
});
