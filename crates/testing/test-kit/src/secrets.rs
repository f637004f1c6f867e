//! The one place for test secrets and fixed test inputs: every harness (the native ones in the
//! service crates and the HTTP one in keyward-e2e) takes them from here.

/// A fixed 32-byte master key, base64 (docs/platform.md, "Design: sealing at rest").
pub const MASTER_KEY: &str = "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=";

/// The keyservice operator token (`admin_token`).
pub const ADMIN_TOKEN: &str = "e2e-admin-token-with-enough-entropy-0123456789";

/// Where the native fake clock starts: Tue, 01 Dec 2026 10:00:00 GMT.
pub const T0_MS: i64 = 1_796_119_200_000;

/// The well-known Hardhat test mnemonic (its addresses are public; never a real wallet).
pub const HARDHAT_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The Okta base URL the native guardian harness scripts.
pub const OKTA_BASE_URL: &str = "https://dev-1.okta.com";

/// The CORS origins the keyservice scenarios run with (both drivers configure these).
pub const CORS_ORIGIN: &str = "https://app.example";
pub const CORS_OTHER_ORIGIN: &str = "https://other.example";
