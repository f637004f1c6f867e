/**
 * Every error the SDK throws is a {@link KeywardError}. Errors the server answered carry its
 * HTTP status and its `code` (the `{"message","code"}` body every keyward service answers with),
 * so callers branch on `err.code`, never on message text.
 */
export class KeywardError extends Error {
  /** The server's error code (`AUTH_INVALID`, `POLICY_CHAIN_ID`, …), or the SDK's own. */
  readonly code: string;
  /** The HTTP status the server answered, or 0 when no answer arrived. */
  readonly status: number;

  constructor(message: string, code: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KeywardError";
    this.code = code;
    this.status = status;
  }
}

/**
 * The server refused a signed request's date: this machine's clock is `skewSeconds` away from
 * the server's (positive: ahead). Fix the system clock, or create the client with
 * `adjustClock: true` to sign with the server's time.
 */
export class ClockSkewError extends KeywardError {
  readonly skewSeconds: number;

  constructor(skewSeconds: number, status: number) {
    const direction = skewSeconds > 0 ? "ahead of" : "behind";
    super(
      `this device's clock is ${Math.abs(skewSeconds)} s ${direction} the server's, outside the ` +
        "window signed requests are accepted in; set the system clock right (or create the " +
        "client with adjustClock: true)",
      "CLOCK_SKEW",
      status,
    );
    this.name = "ClockSkewError";
    this.skewSeconds = skewSeconds;
  }
}

/** The request never got an answer (network failure, CORS refusal, timeout). */
export class NetworkError extends KeywardError {
  constructor(message: string, cause: unknown) {
    super(message, "NETWORK", 0, { cause });
    this.name = "NetworkError";
  }
}
