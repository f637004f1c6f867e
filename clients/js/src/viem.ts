/**
 * A viem account backed by guardian: pass it to a wallet client and `sendTransaction`,
 * `signMessage` and `signTypedData` work unchanged.
 *
 *   const account = await keywardAccount(guardian);
 *   const wallet = createWalletClient({ account, chain, transport: http(rpcUrl) });
 *
 * Transactions are serialized by guardian (types legacy, EIP-2930, EIP-1559, EIP-7702); a
 * chain's custom serializer is not applied.
 */

import { type Hex, type LocalAccount, type TransactionSerializable, getTypesForEIP712Domain, toHex } from "viem";
import { toAccount } from "viem/accounts";
import { KeywardError } from "./errors.js";
import type { GuardianClient, GuardianTransaction } from "./guardian.js";

const TYPES: Record<string, 0 | 1 | 2 | 4> = { legacy: 0, eip2930: 1, eip1559: 2, eip7702: 4 };

function need<T>(value: T | undefined, field: string): T {
  if (value === undefined) {
    throw new KeywardError(`signTransaction needs ${field} (the wallet client fills it in)`, "BAD_REQUEST", 0);
  }
  return value;
}

/** The guardian request for a viem transaction. */
function request(tx: TransactionSerializable, addressIndex: number): GuardianTransaction {
  const type = tx.type === undefined ? undefined : TYPES[tx.type];
  if (tx.type !== undefined && type === undefined) {
    throw new KeywardError(`transaction type ${tx.type} is not signed by guardian`, "BAD_REQUEST", 0);
  }
  const out: GuardianTransaction = {
    type,
    chainId: need(tx.chainId, "chainId"),
    nonce: need(tx.nonce, "nonce"),
    gasLimit: need(tx.gas, "gas"),
    to: tx.to ?? null,
    addressIndex,
  };
  if (tx.value !== undefined) out.value = tx.value;
  if (tx.data !== undefined) out.data = tx.data;
  if (tx.gasPrice !== undefined) out.gasPrice = tx.gasPrice;
  if (tx.maxFeePerGas !== undefined) out.maxFeePerGas = tx.maxFeePerGas;
  if (tx.maxPriorityFeePerGas !== undefined) out.maxPriorityFeePerGas = tx.maxPriorityFeePerGas;
  if (tx.accessList) {
    out.accessList = tx.accessList.map((e) => ({ address: e.address, storageKeys: [...e.storageKeys] }));
  }
  if (tx.authorizationList) {
    out.authorizationList = tx.authorizationList.map((a) => ({
      chainId: a.chainId,
      address: a.address,
      nonce: a.nonce,
      yParity: need(a.yParity, "authorizationList[].yParity"),
      r: need(a.r, "authorizationList[].r"),
      s: need(a.s, "authorizationList[].s"),
    }));
  }
  return out;
}

/** A viem `LocalAccount` whose signatures guardian makes with the user's key at `addressIndex`. */
export async function keywardAccount(
  guardian: GuardianClient,
  options: { addressIndex?: number } = {},
): Promise<LocalAccount> {
  const addressIndex = options.addressIndex ?? 0;
  const address = (await guardian.address(addressIndex)) as Hex;
  return toAccount({
    address,
    async signMessage({ message }) {
      if (typeof message === "string") return guardian.signMessage(message, addressIndex);
      const raw = typeof message.raw === "string" ? message.raw : toHex(message.raw);
      const bytes = new Uint8Array((raw.slice(2).match(/../g) ?? []).map((b) => Number.parseInt(b, 16)));
      return guardian.signMessage(bytes, addressIndex);
    },
    async signTransaction(tx) {
      return (await guardian.signTransaction(request(tx, addressIndex))).serialized;
    },
    async signTypedData(typedData) {
      const domain = (typedData.domain ?? {}) as Record<string, unknown>;
      const types = {
        EIP712Domain: getTypesForEIP712Domain({ domain: typedData.domain as never }),
        ...(typedData.types as Record<string, Array<{ name: string; type: string }>>),
      };
      return guardian.signTypedData(
        {
          types,
          primaryType: typedData.primaryType as string,
          domain,
          message: (typedData.message ?? {}) as Record<string, unknown>,
        },
        addressIndex,
      );
    },
  });
}
