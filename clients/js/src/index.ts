export { ClockSkewError, KeywardError, NetworkError } from "./errors.js";
export type { ClientOptions } from "./http.js";
export {
  type ConnectRequest,
  type InitToken,
  KeySession,
  KeyserviceClient,
  connect,
  decrypt,
  encrypt,
  generateDataKey,
} from "./keyservice.js";
export {
  type AccessListEntry,
  type GuardianTransaction,
  type Hex,
  type OidcLogin,
  type Quantity,
  type SignedAuthorization,
  type SignedTransaction,
  type TypedData,
  GuardianClient,
  createLoginNonce,
} from "./guardian.js";
export { httpDate, initTokenHash, ss1Headers } from "./ss1.js";
