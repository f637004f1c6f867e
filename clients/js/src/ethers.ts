/**
 * An ethers v6 signer backed by guardian: `wallet.sendTransaction`, `signMessage` and
 * `signTypedData` work unchanged, and the key never leaves keyward.
 *
 *   const guardian = await GuardianClient.loginOidc({ baseUrl }, { idToken, nonce });
 *   const signer = new KeywardSigner(guardian, provider);
 *   await signer.sendTransaction({ to, value: parseEther("0.01") });
 */

import {
  AbstractSigner,
  type AuthorizationLike,
  type Provider,
  Signature,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
  TypedDataEncoder,
  getAddress,
  getBigInt,
  hexlify,
  resolveAddress,
} from "ethers";
import { KeywardError } from "./errors.js";
import type { GuardianClient, GuardianTransaction, SignedAuthorization } from "./guardian.js";

function required<T>(value: T | null | undefined, field: string): T {
  if (value === null || value === undefined) {
    throw new KeywardError(
      `signTransaction needs ${field} (sendTransaction fills it in from the provider)`,
      "BAD_REQUEST",
      0,
    );
  }
  return value;
}

function authorization(a: AuthorizationLike): SignedAuthorization {
  const signature = Signature.from(a.signature);
  return {
    chainId: getBigInt(a.chainId),
    address: getAddress(a.address),
    nonce: getBigInt(a.nonce),
    yParity: signature.yParity,
    r: getBigInt(signature.r),
    s: getBigInt(signature.s),
  };
}

export class KeywardSigner extends AbstractSigner {
  private cachedAddress: string | undefined;

  constructor(
    readonly guardian: GuardianClient,
    provider: Provider | null = null,
    readonly addressIndex = 0,
  ) {
    super(provider);
  }

  connect(provider: Provider | null): KeywardSigner {
    const signer = new KeywardSigner(this.guardian, provider, this.addressIndex);
    signer.cachedAddress = this.cachedAddress;
    return signer;
  }

  async getAddress(): Promise<string> {
    this.cachedAddress ??= await this.guardian.address(this.addressIndex);
    return this.cachedAddress;
  }

  async signTransaction(tx: TransactionRequest): Promise<string> {
    const [to, from] = await Promise.all([
      tx.to == null ? Promise.resolve(null) : resolveAddress(tx.to, this.provider),
      tx.from == null ? Promise.resolve(null) : resolveAddress(tx.from, this.provider),
    ]);
    const own = await this.getAddress();
    if (from !== null && from.toLowerCase() !== own.toLowerCase()) {
      throw new KeywardError(`transaction from ${from} is not this signer's address ${own}`, "BAD_REQUEST", 0);
    }
    const type = tx.type ?? undefined;
    if (type !== undefined && ![0, 1, 2, 4].includes(type)) {
      throw new KeywardError(`transaction type ${type} is not signed by guardian (0, 1, 2 or 4)`, "BAD_REQUEST", 0);
    }
    const request: GuardianTransaction = {
      type: type as 0 | 1 | 2 | 4 | undefined,
      chainId: getBigInt(required(tx.chainId, "chainId")),
      nonce: getBigInt(required(tx.nonce, "nonce")),
      gasLimit: getBigInt(required(tx.gasLimit, "gasLimit")),
      to,
      addressIndex: this.addressIndex,
    };
    if (tx.value != null) request.value = getBigInt(tx.value);
    if (tx.data != null) request.data = hexlify(tx.data);
    if (tx.gasPrice != null) request.gasPrice = getBigInt(tx.gasPrice);
    if (tx.maxFeePerGas != null) request.maxFeePerGas = getBigInt(tx.maxFeePerGas);
    if (tx.maxPriorityFeePerGas != null) request.maxPriorityFeePerGas = getBigInt(tx.maxPriorityFeePerGas);
    if (tx.accessList != null) {
      const list = Array.isArray(tx.accessList)
        ? tx.accessList.map((e) =>
            Array.isArray(e)
              ? { address: e[0] as string, storageKeys: e[1] as string[] }
              : { address: e.address, storageKeys: e.storageKeys },
          )
        : Object.entries(tx.accessList).map(([address, storageKeys]) => ({ address, storageKeys }));
      request.accessList = list;
    }
    if (tx.authorizationList != null) request.authorizationList = tx.authorizationList.map(authorization);
    return (await this.guardian.signTransaction(request)).serialized;
  }

  async signMessage(message: string | Uint8Array): Promise<string> {
    return this.guardian.signMessage(message, this.addressIndex);
  }

  async signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    const resolved = await TypedDataEncoder.resolveNames(domain, types, value, async (name) => {
      if (this.provider === null) {
        throw new KeywardError(`cannot resolve the ENS name ${name} without a provider`, "BAD_REQUEST", 0);
      }
      const address = await this.provider.resolveName(name);
      if (address === null) throw new KeywardError(`the ENS name ${name} does not resolve`, "BAD_REQUEST", 0);
      return address;
    });
    const payload = TypedDataEncoder.getPayload(resolved.domain, types, resolved.value) as {
      types: Record<string, Array<{ name: string; type: string }>>;
      primaryType: string;
      domain: Record<string, unknown>;
      message: Record<string, unknown>;
    };
    return this.guardian.signTypedData(payload, this.addressIndex);
  }
}
