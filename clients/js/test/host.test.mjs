// The SDK against a running keyward host (started by the end-to-end test `js_client`, which
// passes KEYWARD_BASE, KEYWARD_ADMIN_TOKEN and a guardian user the Okta stand-in lets in).
// Without KEYWARD_BASE these tests are skipped.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import {
  Transaction,
  TypedDataEncoder,
  JsonRpcProvider,
  Network,
  parseEther,
  recoverAddress,
  verifyMessage,
  verifyTypedData,
} from "ethers";
import { createWalletClient, http, recoverTransactionAddress } from "viem";

import {
  ClockSkewError,
  GuardianClient,
  KeywardError,
  KeyserviceClient,
  connect,
  decrypt,
  encrypt,
  generateDataKey,
} from "../dist/esm/index.js";
import { KeywardSigner } from "../dist/esm/ethers.js";
import { keywardAccount } from "../dist/esm/viem.js";

const base = process.env.KEYWARD_BASE;
const skip = base ? false : "KEYWARD_BASE is not set (run through `cargo test --test js_client`)";
const options = { baseUrl: base };
const okta = { username: process.env.KEYWARD_GUARDIAN_USER ?? "sdk-user", password: "pw" };

async function createNamespace(name) {
  const r = await fetch(`${base}/admin/namespaces`, {
    method: "POST",
    headers: { authorization: `Bearer ${process.env.KEYWARD_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ namespace: name }),
  });
  const text = await r.text();
  assert.equal(r.status, 201, text);
  return JSON.parse(text).secret;
}

/** The browser's and the Real Service's halves of the keyservice flow, for one user. */
async function keySession(client, namespace, secret, userId, serviceOptions = options) {
  const { initToken, initTokenHash } = await client.init();
  const sessionToken = await connect(serviceOptions, { namespace, secret, userId, initTokenHash });
  return client.session(sessionToken, initToken);
}

test("keyservice: the whole flow, and data only the browser can read", { skip }, async () => {
  const secret = await createNamespace("sdk-flow");
  const client = new KeyserviceClient(options);
  const session = await keySession(client, "sdk-flow", secret, "alice");
  assert.equal(await session.getKey(), null);
  const dataKey = await generateDataKey();
  await session.putKey(dataKey);
  const stored = await session.getKey();
  assert.deepEqual(stored, dataKey);
  const sealed = await encrypt(stored, "the user's document", "doc-1");
  assert.equal(new TextDecoder().decode(await decrypt(stored, sealed, "doc-1")), "the user's document");
  await assert.rejects(decrypt(stored, sealed, "doc-2"), (e) => e.code === "DECRYPT_FAILED");
  await session.deleteKey();
  assert.equal(await session.getKey(), null);
});

test("keyservice: errors carry the server's code", { skip }, async () => {
  const client = new KeyserviceClient(options);
  const { initToken } = await client.init();
  const forged = client.session("not-a-session", initToken);
  await assert.rejects(forged.getKey(), (e) => e instanceof KeywardError && e.code === "AUTH_INVALID" && e.status === 401);
  await assert.rejects(
    connect(options, { namespace: "sdk-none", secret: "wrong", userId: "u", initTokenHash: "x" }),
    (e) => e instanceof KeywardError && e.status === 401,
  );
});

test("keyservice: a skewed clock is reported as such, and adjustClock signs with the server's", { skip }, async () => {
  const secret = await createNamespace("sdk-skew");
  const realNow = Date.now;
  const strict = new KeyserviceClient(options);
  const session = await keySession(strict, "sdk-skew", secret, "bob");
  Date.now = () => realNow() + 3_600_000;
  try {
    await assert.rejects(session.putKey(new Uint8Array([1, 2, 3])), (e) => {
      assert.ok(e instanceof ClockSkewError, String(e));
      assert.equal(e.code, "CLOCK_SKEW");
      assert.ok(Math.abs(e.skewSeconds - 3600) <= 2, `skew ${e.skewSeconds}`);
      return true;
    });
    const adjusting = { ...options, adjustClock: true };
    const adjusted = await keySession(new KeyserviceClient(adjusting), "sdk-skew", secret, "bob", adjusting);
    await adjusted.putKey(new Uint8Array([1, 2, 3]));
    assert.deepEqual(await adjusted.getKey(), new Uint8Array([1, 2, 3]));
  } finally {
    Date.now = realNow;
  }
});

test("guardian: concurrent calls chain the token, and every signature recovers to the address", { skip }, async () => {
  const guardian = await GuardianClient.loginOkta(options, okta);
  const address = await guardian.address();
  const messages = Array.from({ length: 8 }, (_, i) => `message ${i}`);
  const signatures = await Promise.all(messages.map((m) => guardian.signMessage(m)));
  messages.forEach((m, i) => assert.equal(verifyMessage(m, signatures[i]), address));
  const bytes = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
  assert.equal(verifyMessage(bytes, await guardian.signMessage(bytes)), address);
  const digest = `0x${"ab".repeat(32)}`;
  assert.equal(recoverAddress(digest, await guardian.signDigest(digest)), address);
  await guardian.logout();
  await assert.rejects(guardian.address(), (e) => e.code === "NOT_LOGGED_IN");
});

test("guardian: a server refusal carries its code and keeps the chain", { skip }, async () => {
  const guardian = await GuardianClient.loginOkta(options, okta);
  await assert.rejects(guardian.signDigest("0x1234"), (e) => e instanceof KeywardError && e.status === 400);
  // A fee field left out is named before anything is sent (the token is not spent).
  await assert.rejects(
    guardian.signTransaction({ chainId: 1, nonce: 0, gasLimit: 21000, to: "0x000000000000000000000000000000000000dEaD" }),
    (e) => e.code === "BAD_REQUEST" && e.status === 0 && /gasPrice/.test(e.message),
  );
  await assert.rejects(
    guardian.signTransaction({ type: 2, chainId: 1, nonce: 0, gasLimit: 21000, maxFeePerGas: 2n }),
    (e) => e.code === "BAD_REQUEST" && /maxPriorityFeePerGas/.test(e.message),
  );
  assert.match(await guardian.address(), /^0x[0-9a-fA-F]{40}$/);
});

/** A JSON-RPC stand-in for a chain: enough for ethers' and viem's sendTransaction. */
async function rpcStandIn(chainId) {
  const sent = [];
  const answers = {
    eth_chainId: () => `0x${chainId.toString(16)}`,
    net_version: () => String(chainId),
    eth_blockNumber: () => "0x10",
    eth_getTransactionCount: () => "0x7",
    eth_estimateGas: () => "0x5208",
    eth_gasPrice: () => "0x3b9aca00",
    eth_maxPriorityFeePerGas: () => "0x3b9aca00",
    eth_getBlockByNumber: () => ({
      number: "0x10",
      hash: `0x${"11".repeat(32)}`,
      parentHash: `0x${"22".repeat(32)}`,
      timestamp: "0x6553f100",
      gasLimit: "0x1c9c380",
      gasUsed: "0x0",
      baseFeePerGas: "0x3b9aca00",
      miner: `0x${"00".repeat(20)}`,
      extraData: "0x",
      difficulty: "0x0",
      nonce: "0x0000000000000000",
      transactions: [],
    }),
    eth_sendRawTransaction: ([raw]) => {
      sent.push(raw);
      return Transaction.from(raw).hash;
    },
    eth_getTransactionByHash: () => null,
  };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const one = (call) => {
        const answer = answers[call.method];
        return answer
          ? { jsonrpc: "2.0", id: call.id, result: answer(call.params ?? []) }
          : { jsonrpc: "2.0", id: call.id, error: { code: -32601, message: `no ${call.method}` } };
      };
      const parsed = JSON.parse(body);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(Array.isArray(parsed) ? parsed.map(one) : one(parsed)));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, sent, close: () => server.close() };
}

test("ethers: KeywardSigner sends a transaction whose sender is the guardian address", { skip }, async () => {
  const chain = await rpcStandIn(31337);
  try {
    const provider = new JsonRpcProvider(chain.url, Network.from(31337), { staticNetwork: true });
    const guardian = await GuardianClient.loginOkta(options, okta);
    const signer = new KeywardSigner(guardian, provider);
    const address = await signer.getAddress();
    const to = "0x000000000000000000000000000000000000dEaD";
    const response = await signer.sendTransaction({ to, value: parseEther("0.01") });
    assert.equal(chain.sent.length, 1);
    const tx = Transaction.from(chain.sent[0]);
    assert.equal(tx.from, address);
    assert.equal(tx.to, to);
    assert.equal(tx.value, parseEther("0.01"));
    assert.equal(tx.chainId, 31337n);
    assert.equal(tx.nonce, 7);
    assert.equal(response.hash, tx.hash);
    // Legacy and EIP-2930 too, signed without a provider's help.
    for (const extra of [{ type: 0, gasPrice: 1n }, { type: 1, gasPrice: 1n, accessList: [] }]) {
      const raw = await signer.signTransaction({ to, chainId: 1n, nonce: 0, gasLimit: 21000n, ...extra });
      assert.equal(Transaction.from(raw).from, address);
      assert.equal(Transaction.from(raw).type, extra.type);
    }
    // EIP-712.
    const domain = { name: "Mail", version: "1", chainId: 1, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" };
    const types = { Mail: [{ name: "contents", type: "string" }, { name: "amount", type: "uint256" }] };
    const value = { contents: "hello", amount: 10n ** 20n };
    const signature = await signer.signTypedData(domain, types, value);
    assert.equal(verifyTypedData(domain, types, value, signature), address);
    assert.ok(TypedDataEncoder.hash(domain, types, value));
  } finally {
    chain.close();
  }
});

test("viem: the keyward account sends a transaction whose sender is the guardian address", { skip }, async () => {
  const chain = await rpcStandIn(31337);
  try {
    const guardian = await GuardianClient.loginOkta(options, okta);
    const account = await keywardAccount(guardian);
    const wallet = createWalletClient({
      account,
      chain: {
        id: 31337,
        name: "stand-in",
        nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
        rpcUrls: { default: { http: [chain.url] } },
      },
      transport: http(chain.url),
    });
    const to = "0x000000000000000000000000000000000000dEaD";
    const hash = await wallet.sendTransaction({ to, value: 1000n });
    assert.equal(chain.sent.length, 1);
    assert.equal(await recoverTransactionAddress({ serializedTransaction: chain.sent[0] }), account.address);
    assert.equal(hash, Transaction.from(chain.sent[0]).hash);
    const message = "signed through viem";
    assert.equal(verifyMessage(message, await wallet.signMessage({ message })), account.address);
    const typed = {
      domain: { name: "Mail", version: "1", chainId: 1 },
      types: { Mail: [{ name: "contents", type: "string" }] },
      primaryType: "Mail",
      message: { contents: "hi" },
    };
    const signature = await wallet.signTypedData(typed);
    assert.equal(verifyTypedData(typed.domain, typed.types, typed.message, signature), account.address);
  } finally {
    chain.close();
  }
});
