/**
 * keyservice: a web app's users keep their own encryption key in keyward; the app's server (the
 * "Real Service") vouches for a user's session but never sees the key.
 *
 * The flow (docs/keyservice.md in the keyward repository):
 * 1. Browser: {@link KeyserviceClient.init} gets an init token and its hash.
 * 2. Browser → Real Service: the hash only, over the app's own authenticated channel.
 * 3. Real Service: {@link connect} with the namespace secret, the user id and the hash; it
 *    hands the session token back to the browser.
 * 4. Browser: {@link KeyserviceClient.session} with the session token and the init token, then
 *    `putKey` / `getKey` / `deleteKey`, each request signed with `ss1`.
 *
 * The data key helpers ({@link generateDataKey}, {@link encrypt}, {@link decrypt}) let the
 * browser encrypt the user's data before it reaches the Real Service, which then only ever
 * stores ciphertext.
 */

import { KeywardError } from "./errors.js";
import { type Answer, type ClientOptions, Transport, errorOf, json, skewError } from "./http.js";
import { httpDate, initTokenHash, ss1Headers } from "./ss1.js";

const encoder = new TextEncoder();

async function signed(
  transport: Transport,
  keyid: string,
  secret: string,
  method: string,
  path: string,
  body: Uint8Array,
  contentType: string | undefined,
  what: string,
): Promise<Answer> {
  const attempt = async (): Promise<Answer> => {
    const headers: Record<string, string> = await ss1Headers(
      keyid,
      secret,
      method,
      path,
      body,
      httpDate(transport.signingTime()),
    );
    if (contentType) headers["content-type"] = contentType;
    return transport.send(method, path, headers, body.length > 0 ? body : undefined);
  };
  const answer = await attempt();
  if (answer.status !== 401) return answer;
  const skew = skewError(answer, transport.clock);
  if (skew === undefined) throw errorOf(answer, what);
  if (!transport.adjustClock) throw skew;
  // Refused for its date, so not acted on: sign again (a fresh nonce) on the server's clock,
  // which the refusal's Date header has just told. Refused again, it is not the clock.
  const again = await attempt();
  if (again.status === 401) throw errorOf(again, what);
  return again;
}

/** An init token (kept in the browser) and its hash (handed to the Real Service). */
export interface InitToken {
  initToken: string;
  initTokenHash: string;
}

/** The browser's client. */
export class KeyserviceClient {
  private readonly transport: Transport;

  constructor(options: ClientOptions) {
    this.transport = new Transport(options);
  }

  /** A fresh init token, and the hash to hand to the Real Service. */
  async init(): Promise<InitToken> {
    const answer = await this.transport.send("POST", "/init", {});
    const { initToken } = json<{ initToken: string }>(answer, 200, "POST /init");
    return { initToken, initTokenHash: await initTokenHash(initToken) };
  }

  /** The session the Real Service obtained for this browser's init token. */
  session(sessionToken: string, initToken: string): KeySession {
    return new KeySession(this.transport, sessionToken, initToken);
  }
}

/** One user's session: the key operations, each signed with the session. */
export class KeySession {
  constructor(
    private readonly transport: Transport,
    private readonly sessionToken: string,
    private readonly initToken: string,
  ) {}

  private send(method: string, body: Uint8Array, contentType?: string): Promise<Answer> {
    return signed(
      this.transport,
      this.sessionToken,
      this.initToken,
      method,
      "/key",
      body,
      contentType,
      `${method} /key`,
    );
  }

  /** Stores `key` (replacing any key stored before). */
  async putKey(key: Uint8Array): Promise<void> {
    if (!(key instanceof Uint8Array) || key.length === 0) {
      throw new KeywardError("putKey needs the key's bytes (a non-empty Uint8Array)", "BAD_REQUEST", 0);
    }
    const answer = await this.send("PUT", key, "application/octet-stream");
    if (answer.status !== 204) throw errorOf(answer, "PUT /key");
  }

  /** The stored key, or `null` when none is stored. */
  async getKey(): Promise<Uint8Array | null> {
    const answer = await this.send("GET", new Uint8Array());
    if (answer.status === 404) {
      const error = errorOf(answer, "GET /key");
      if (error.code === "KEY_NOT_FOUND") return null;
      throw error;
    }
    if (answer.status !== 200) throw errorOf(answer, "GET /key");
    return answer.body;
  }

  /** Deletes the stored key (nothing happens if none is stored). */
  async deleteKey(): Promise<void> {
    const answer = await this.send("DELETE", new Uint8Array());
    if (answer.status !== 204) throw errorOf(answer, "DELETE /key");
  }
}

/** What the Real Service needs to vouch for a user's session. */
export interface ConnectRequest {
  /** The namespace the operator created for this Real Service. */
  namespace: string;
  /** The namespace secret (server side only: never ship it to a browser). */
  secret: string;
  /** The user, as the Real Service knows them. */
  userId: string;
  /** The hash the browser handed over ({@link InitToken.initTokenHash}). */
  initTokenHash: string;
}

/**
 * The Real Service's side (Node.js): exchanges a browser's init-token hash for a session
 * token bound to `userId`. Returns the session token to hand back to that browser.
 */
export async function connect(options: ClientOptions, request: ConnectRequest): Promise<string> {
  const transport = new Transport(options);
  const body = encoder.encode(
    JSON.stringify({
      namespace: request.namespace,
      userId: request.userId,
      initTokenHash: request.initTokenHash,
    }),
  );
  const answer = await signed(
    transport,
    request.namespace,
    request.secret,
    "POST",
    "/connect",
    body,
    "application/json",
    "POST /connect",
  );
  return json<{ sessionToken: string }>(answer, 200, "POST /connect").sessionToken;
}

// ---- the user's data key ------------------------------------------------------------------

/** The sealed format's first byte: AES-256-GCM, 12-byte IV, 16-byte tag. */
const SEALED_V1 = 1;

/** A new AES-256-GCM key from the platform's CSPRNG, to store with `putKey`. */
export async function generateDataKey(): Promise<Uint8Array> {
  const key = new Uint8Array(32);
  globalThis.crypto.getRandomValues(key);
  return key;
}

async function aesKey(raw: Uint8Array, use: KeyUsage): Promise<CryptoKey> {
  if (raw.length !== 32) {
    throw new KeywardError("a data key is 32 bytes (AES-256)", "BAD_KEY", 0);
  }
  return globalThis.crypto.subtle.importKey("raw", raw as BufferSource, "AES-GCM", false, [use]);
}

/**
 * Encrypts `plaintext` under the data key: `0x01 ‖ IV (12) ‖ ciphertext ‖ tag (16)`, a fresh
 * random IV each time. `context` (optional) is authenticated but not encrypted: pass what the
 * ciphertext belongs to (a document id) so that it cannot be swapped for another's.
 */
export async function encrypt(
  dataKey: Uint8Array,
  plaintext: Uint8Array | string,
  context?: string,
): Promise<Uint8Array> {
  const key = await aesKey(dataKey, "encrypt");
  const iv = new Uint8Array(12);
  globalThis.crypto.getRandomValues(iv);
  const bytes = typeof plaintext === "string" ? encoder.encode(plaintext) : plaintext;
  const sealed = new Uint8Array(
    await globalThis.crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv,
        ...(context === undefined ? {} : { additionalData: encoder.encode(context) }),
      },
      key,
      bytes as BufferSource,
    ),
  );
  const out = new Uint8Array(1 + iv.length + sealed.length);
  out[0] = SEALED_V1;
  out.set(iv, 1);
  out.set(sealed, 1 + iv.length);
  return out;
}

/** Decrypts what {@link encrypt} sealed; throws `DECRYPT_FAILED` for anything else. */
export async function decrypt(
  dataKey: Uint8Array,
  sealed: Uint8Array,
  context?: string,
): Promise<Uint8Array> {
  if (sealed.length < 1 + 12 + 16 || sealed[0] !== SEALED_V1) {
    throw new KeywardError("not a sealed value of this format", "DECRYPT_FAILED", 0);
  }
  const key = await aesKey(dataKey, "decrypt");
  try {
    return new Uint8Array(
      await globalThis.crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: sealed.slice(1, 13) as BufferSource,
          ...(context === undefined ? {} : { additionalData: encoder.encode(context) }),
        },
        key,
        sealed.subarray(13) as BufferSource,
      ),
    );
  } catch (cause) {
    throw new KeywardError(
      "the value does not decrypt under this key (wrong key, wrong context or altered)",
      "DECRYPT_FAILED",
      0,
      { cause },
    );
  }
}
