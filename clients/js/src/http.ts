import { ClockSkewError, KeywardError, NetworkError } from "./errors.js";

/** How a client reaches one keyward deployment. */
export interface ClientOptions {
  /** The deployment's origin, e.g. `https://keys.example.com` (no trailing path). */
  baseUrl: string;
  /** A `fetch` to use instead of the global one (tests, proxies, instrumentation). */
  fetch?: typeof fetch;
  /**
   * Sign with the server's clock rather than this device's: every answer's `Date` header
   * tells the offset. Off by default, so that a wrong clock is reported ({@link ClockSkewError})
   * instead of hidden.
   */
  adjustClock?: boolean;
  /**
   * Milliseconds to wait for a whole answer (default 60 000: an Okta login waits up to 25 s
   * for the push). A call that times out throws {@link NetworkError}.
   */
  timeoutMs?: number;
}

/** The offset between this device's clock and the server's, learnt from `Date` headers. */
export class ServerClock {
  private offsetMs = 0;
  private known = false;

  /** Remembers the server's time from an answer's `Date` header (second precision). */
  observe(dateHeader: string | null, sentAt: number, receivedAt: number): void {
    if (!dateHeader) return;
    const server = Date.parse(dateHeader);
    if (Number.isNaN(server)) return;
    // The server stamped the answer somewhere between sending and receiving.
    this.offsetMs = server + 500 - (sentAt + receivedAt) / 2;
    this.known = true;
  }

  /** Seconds this device is ahead of the server (negative: behind), if an answer told. */
  skewSeconds(): number | undefined {
    return this.known ? Math.round(-this.offsetMs / 1000) : undefined;
  }

  /** Milliseconds since the epoch on the server's clock (this device's, until one is known). */
  serverNow(): number {
    return Date.now() + (this.known ? this.offsetMs : 0);
  }
}

/** An answer's status, headers and body bytes, read once. */
export interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export class Transport {
  readonly baseUrl: string;
  readonly clock = new ServerClock();
  readonly adjustClock: boolean;
  private readonly timeoutMs: number;
  private readonly fetcher: typeof fetch;

  constructor(options: ClientOptions) {
    if (!options || typeof options.baseUrl !== "string" || options.baseUrl === "") {
      throw new KeywardError("baseUrl is required, e.g. https://keys.example.com", "CONFIG", 0);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.adjustClock = options.adjustClock ?? false;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") {
      throw new KeywardError("no fetch: pass options.fetch on runtimes without one", "CONFIG", 0);
    }
    this.fetcher = f.bind(globalThis);
  }

  /** The time to sign a request with. */
  signingTime(): number {
    return this.adjustClock ? this.clock.serverNow() : Date.now();
  }

  async send(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string>,
    body?: Uint8Array,
  ): Promise<Answer> {
    const sentAt = Date.now();
    let response: Response;
    let bytes: Uint8Array;
    try {
      response = await this.fetcher(this.baseUrl + pathAndQuery, {
        method,
        headers,
        body: body === undefined ? undefined : (body as unknown as BodyInit),
        credentials: "omit",
        cache: "no-store",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (cause) {
      throw new NetworkError(`${method} ${pathAndQuery} got no (whole) answer: ${String(cause)}`, cause);
    }
    this.clock.observe(response.headers.get("date"), sentAt, Date.now());
    return { status: response.status, headers: response.headers, body: bytes };
  }
}

const decoder = new TextDecoder();

/** The answer's JSON, or the {@link KeywardError} its error body describes. */
export function json<T>(answer: Answer, ok: number, what: string): T {
  if (answer.status !== ok) throw errorOf(answer, what);
  try {
    return JSON.parse(decoder.decode(answer.body)) as T;
  } catch (cause) {
    throw new KeywardError(`${what}: the answer is not JSON`, "BAD_ANSWER", answer.status, {
      cause,
    });
  }
}

/** The error an answer carries: the server's `{"message","code"}` when it sent one. */
export function errorOf(answer: Answer, what: string): KeywardError {
  let message = `${what} failed with HTTP ${answer.status}`;
  let code = `HTTP_${answer.status}`;
  try {
    const body = JSON.parse(decoder.decode(answer.body)) as { message?: unknown; code?: unknown };
    if (typeof body.message === "string") message = `${what}: ${body.message}`;
    if (typeof body.code === "string") code = body.code;
  } catch {
    // Not JSON (a proxy's page): keep the status.
  }
  return new KeywardError(message, code, answer.status);
}

/**
 * For a refused signed request: a {@link ClockSkewError} when the refusal is about the date and
 * the answer's `Date` shows this device's clock off the server's.
 */
export function skewError(answer: Answer, clock: ServerClock): ClockSkewError | undefined {
  if (answer.status !== 401) return undefined;
  // The server says when it refused the date (its window is the deployment's
  // sessionist_max_skew_seconds, which the client does not know); the answer's Date header
  // says by how much this device is off. A second or two is the Date header's own precision.
  if (!/\bdate\b/i.test(errorOf(answer, "").message)) return undefined;
  const skew = clock.skewSeconds();
  if (skew === undefined || Math.abs(skew) <= 2) return undefined;
  return new ClockSkewError(skew, answer.status);
}
