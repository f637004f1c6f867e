/**
 * guardian: one HD secp256k1 key per user, created at their first identity-provider login,
 * that signs and never leaves the service.
 *
 * Every end-user call spends a single-use token and the answer carries the next one
 * (`fresh_client_token`). {@link GuardianClient} holds the latest token and runs its calls one
 * after another, so concurrent calls from the app never present the same token twice (which
 * would fail all but one of them). A call the server answered with 5xx left the token unspent,
 * and the client keeps it.
 */

import { KeywardError } from "./errors.js";
import { type Answer, type ClientOptions, Transport, errorOf } from "./http.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A `0x`-prefixed hex string. */
export type Hex = `0x${string}`;

/** A number the server takes exactly: a bigint, a safe integer, or a decimal / 0x hex string. */
export type Quantity = bigint | number | string;

/** One entry of an EIP-2930 access list. */
export interface AccessListEntry {
  address: string;
  storageKeys: string[];
}

/** A signed EIP-7702 authorization, as a type-4 transaction carries it. */
export interface SignedAuthorization {
  chainId: Quantity;
  address: string;
  nonce: Quantity;
  yParity: number;
  r: Quantity;
  s: Quantity;
}

/** A transaction for {@link GuardianClient.signTransaction}. */
export interface GuardianTransaction {
  /** 0 (legacy), 1 (EIP-2930), 2 (EIP-1559) or 4 (EIP-7702); by default 2 when a max fee is given, else 0. */
  type?: 0 | 1 | 2 | 4;
  chainId: Quantity;
  nonce: Quantity;
  gasLimit: Quantity;
  /** Absent or null: contract creation. */
  to?: string | null;
  value?: Quantity;
  data?: string;
  gasPrice?: Quantity;
  maxFeePerGas?: Quantity;
  maxPriorityFeePerGas?: Quantity;
  accessList?: AccessListEntry[];
  authorizationList?: SignedAuthorization[];
  /** The HD index below m/44'/60'/0'/0 (default 0). */
  addressIndex?: number;
}

/** A signed transaction. */
export interface SignedTransaction {
  /** The serialized signed transaction, ready for `eth_sendRawTransaction`. */
  serialized: Hex;
  hash: Hex;
  from: string;
}

/** The EIP-712 document: `types` (with or without `EIP712Domain`), `primaryType`, `domain`, `message`. */
export interface TypedData {
  types: Record<string, Array<{ name: string; type: string }>>;
  primaryType: string;
  domain: Record<string, unknown>;
  message: Record<string, unknown>;
}

/** What an OIDC login needs: see {@link createLoginNonce}. */
export interface OidcLogin {
  idToken: string;
  /** The nonce whose digest the authorization request carried. */
  nonce?: string;
}

/**
 * A nonce for an OIDC login bound to guardian: send `claim` as the authorization request's
 * `nonce` parameter, keep `nonce` (in memory or session storage) and pass it with the
 * resulting id_token to {@link GuardianClient.loginOidc}.
 */
export async function createLoginNonce(): Promise<{ nonce: string; claim: string }> {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  const nonce = base64url(bytes);
  const digest = new Uint8Array(
    await globalThis.crypto.subtle.digest("SHA-256", encoder.encode(nonce) as BufferSource),
  );
  return { nonce, claim: base64url(digest) };
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A quantity as the server takes it: safe integers as numbers, everything else as a string. */
function quantity(q: Quantity): number | string {
  if (typeof q === "bigint") return q <= BigInt(Number.MAX_SAFE_INTEGER) && q >= 0n ? Number(q) : q.toString();
  return q;
}

function parse(answer: Answer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(decoder.decode(answer.body));
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function text(body: Record<string, unknown>, field: string, what: string): string {
  const v = body[field];
  if (typeof v !== "string") {
    throw new KeywardError(`${what}: the answer has no ${field}`, "BAD_ANSWER", 200);
  }
  return v;
}

export class GuardianClient {
  private readonly transport: Transport;
  private token: string | null;
  /** The calls in flight, one after another (a token is spent by exactly one of them). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(transport: Transport, token: string | null) {
    this.transport = transport;
    this.token = token;
  }

  /** Logs in with an Okta username and password (and Okta Verify push, which the server waits for). */
  static async loginOkta(
    options: ClientOptions,
    credentials: { username: string; password: string },
  ): Promise<GuardianClient> {
    return GuardianClient.login(options, {
      okta_username: credentials.username,
      okta_password: credentials.password,
    });
  }

  /** Logs in with an OpenID Connect id_token (Google, Entra ID, Auth0, any OIDC provider). */
  static async loginOidc(options: ClientOptions, login: OidcLogin): Promise<GuardianClient> {
    return GuardianClient.login(options, {
      id_token: login.idToken,
      ...(login.nonce === undefined ? {} : { nonce: login.nonce }),
    });
  }

  /** Resumes from a token kept by the app (e.g. in session storage). */
  static fromToken(options: ClientOptions, token: string): GuardianClient {
    return new GuardianClient(new Transport(options), token);
  }

  private static async login(options: ClientOptions, body: object): Promise<GuardianClient> {
    const transport = new Transport(options);
    const answer = await transport.send(
      "POST",
      "/guardian/login",
      { "content-type": "application/json" },
      encoder.encode(JSON.stringify(body)),
    );
    const parsed = parse(answer);
    if (answer.status !== 200 || parsed === undefined) throw errorOf(answer, "login");
    return new GuardianClient(transport, text(parsed, "client_token", "login"));
  }

  /** The token the next call will spend (to keep across page loads); null once the chain ended. */
  get currentToken(): string | null {
    return this.token;
  }

  /** Runs one end-user call with the current token, after the calls before it. */
  private call(
    method: string,
    path: string,
    body: object | undefined,
    what: string,
  ): Promise<Record<string, unknown>> {
    const run = async (): Promise<Record<string, unknown>> => {
      const token = this.token;
      if (token === null) {
        throw new KeywardError(`${what}: not logged in (the token chain ended)`, "NOT_LOGGED_IN", 0);
      }
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      const answer = await this.transport.send(
        method,
        path,
        headers,
        body === undefined ? undefined : encoder.encode(JSON.stringify(body)),
      );
      const parsed = parse(answer);
      const fresh = parsed?.fresh_client_token;
      if (typeof fresh === "string") {
        this.token = fresh;
      } else if (answer.status === 401 || (answer.status === 200 && path === "/guardian/export")) {
        // Refused (log in again), or spent by an export, which never chains. An export refused
        // for other reasons (403) leaves the token unspent.
        this.token = null;
      }
      if (answer.status !== 200 || parsed === undefined) throw errorOf(answer, what);
      return parsed;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The user's address at `index` (EIP-55). */
  async address(index = 0): Promise<string> {
    const body = await this.call("GET", `/guardian/address?address_index=${index}`, undefined, "address");
    return text(body, "address", "address");
  }

  /** Signs a 32-byte digest as it is (no prefix): a 65-byte `r ‖ s ‖ v` signature. */
  async signDigest(digest: string, index = 0): Promise<Hex> {
    const body = await this.call("POST", "/guardian/sign", { raw_data: digest, address_index: index }, "signDigest");
    return text(body, "signature", "signDigest") as Hex;
  }

  /** EIP-191 personal_sign of `message` (text as UTF-8, or bytes). */
  async signMessage(message: string | Uint8Array, index = 0): Promise<Hex> {
    const request =
      typeof message === "string"
        ? { message, encoding: "utf8", address_index: index }
        : { message: `0x${[...message].map((b) => b.toString(16).padStart(2, "0")).join("")}`, encoding: "hex", address_index: index };
    const body = await this.call("POST", "/guardian/sign-message", request, "signMessage");
    return text(body, "signature", "signMessage") as Hex;
  }

  /** EIP-712 signature of `typedData`. Big numbers may be bigints; they are sent as strings. */
  async signTypedData(typedData: TypedData, index = 0): Promise<Hex> {
    const plain = JSON.parse(
      JSON.stringify(typedData, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
    ) as object;
    const body = await this.call(
      "POST",
      "/guardian/sign-typed-data",
      { typed_data: plain, address_index: index },
      "signTypedData",
    );
    return text(body, "signature", "signTypedData") as Hex;
  }

  /** Signs a transaction of type 0, 1, 2 or 4 (the signing policy may refuse it: `POLICY_*`). */
  async signTransaction(tx: GuardianTransaction): Promise<SignedTransaction> {
    const request: Record<string, unknown> = {
      chain_id: quantity(tx.chainId),
      nonce: quantity(tx.nonce),
      gas_limit: quantity(tx.gasLimit),
      address_index: tx.addressIndex ?? 0,
    };
    // The type as the server would choose it, made explicit so that a missing fee field is
    // named here, for every caller (the ethers signer and the viem account included).
    const hasFees = tx.maxFeePerGas !== undefined || tx.maxPriorityFeePerGas !== undefined;
    const type = tx.type ?? (tx.authorizationList ? 4 : hasFees ? 2 : tx.accessList ? 1 : 0);
    const missing =
      type < 2
        ? tx.gasPrice === undefined && "gasPrice"
        : (tx.maxFeePerGas === undefined || tx.maxPriorityFeePerGas === undefined) &&
          "maxFeePerGas and maxPriorityFeePerGas";
    if (missing) {
      throw new KeywardError(
        `a type-${type} transaction needs ${missing} (sendTransaction and wallet clients fill them in)`,
        "BAD_REQUEST",
        0,
      );
    }
    request.tx_type = type;
    if (tx.to !== undefined && tx.to !== null) request.to = tx.to;
    if (tx.value !== undefined) request.amount = quantity(tx.value);
    if (tx.data !== undefined && tx.data !== "0x" && tx.data !== "") request.data = tx.data;
    if (tx.gasPrice !== undefined) request.gas_price = quantity(tx.gasPrice);
    if (tx.maxFeePerGas !== undefined) request.max_fee_per_gas = quantity(tx.maxFeePerGas);
    if (tx.maxPriorityFeePerGas !== undefined) {
      request.max_priority_fee_per_gas = quantity(tx.maxPriorityFeePerGas);
    }
    if (tx.accessList !== undefined) {
      request.access_list = tx.accessList.map((e) => ({ address: e.address, storage_keys: e.storageKeys }));
    }
    if (tx.authorizationList !== undefined) {
      request.authorization_list = tx.authorizationList.map((a) => ({
        chain_id: quantity(a.chainId),
        address: a.address,
        nonce: quantity(a.nonce),
        y_parity: a.yParity,
        r: quantity(a.r),
        s: quantity(a.s),
      }));
    }
    const body = await this.call("POST", "/guardian/sign-tx", request, "signTransaction");
    const serialized = text(body, "signed_tx_rlp", "signTransaction");
    return {
      serialized: (serialized.startsWith("0x") ? serialized : `0x${serialized}`) as Hex,
      hash: text(body, "tx_hash", "signTransaction") as Hex,
      from: text(body, "from", "signTransaction"),
    };
  }

  /**
   * The user's mnemonic, where the deployment allows export and this client's token comes from
   * a fresh login made for it (the server answers `FRESH_LOGIN_REQUIRED` otherwise). Ends the
   * token chain: log in again afterwards.
   */
  async exportMnemonic(): Promise<{ mnemonic: string; hdPath: string; address: string }> {
    const body = await this.call("POST", "/guardian/export", undefined, "export");
    return {
      mnemonic: text(body, "mnemonic", "export"),
      hdPath: text(body, "hd_path", "export"),
      address: text(body, "address", "export"),
    };
  }

  /** Ends this token chain (or, with `all`, every chain of the user). */
  async logout(options: { all?: boolean } = {}): Promise<void> {
    await this.call("POST", "/guardian/logout", { all: options.all ?? false }, "logout");
    // The chain has ended: the answer's fresh token (if any) belongs to nothing.
    this.token = null;
  }
}
