// Drives 2FA with the official shield-js client (@openfort/shield-js 0.1.37, installed by the
// test into SHIELD_JS_PREFIX; never vendored here), in two phases the test runs in turn
// (tests/tests/shield_otp.rs; docs/shield.md, "Design: OTP and 2FA"):
// - SHIELD_OTP_PHASE=enable: enable2FA succeeds, a second enable2FA is refused (409).
// - SHIELD_OTP_PHASE=gated: reads through a session made without a code throw OTPRequiredError
//   (428 OTP_MISSING); a session made with the webhook's code reads the project share.
// Environment: KEYWARD_URL, SHIELD_API_KEY, SHIELD_API_SECRET, SHIELD_TOKEN (a CUSTOM PEM user),
// SHIELD_UNVERIFIED (two session ids, comma-separated), SHIELD_VERIFIED (two session ids).
// Prints one JSON line per step and a final summary line {"ok":true,"steps":[...]}.
import { apiKey, assert, baseURL, customUser, done, env, expectError, fail, isA, projectAuth, shield, step } from './shield-common.mjs';

const { ShieldSDK, OTPRequiredError } = shield;
const sdk = new ShieldSDK({ apiKey, baseURL });

try {
  if (env('SHIELD_OTP_PHASE') === 'enable') {
    await step('enable-2fa', () => sdk.enable2FA(projectAuth));
    await step('enable-2fa-again', () =>
      expectError((e) => e.message.includes('status=409') && e.message.includes('OTP_ALREADY_ENABLED'), () => sdk.enable2FA(projectAuth)));
  } else {
    const user = customUser(env('SHIELD_TOKEN'));
    const [u1, u2] = env('SHIELD_UNVERIFIED').split(',');
    const [v1, v2] = env('SHIELD_VERIFIED').split(',');
    await step('get-secret-unverified', () =>
      expectError(isA(OTPRequiredError), () => sdk.getSecret({ ...user, encryptionSession: u1 })));
    await step('get-by-reference-unverified', () =>
      expectError(isA(OTPRequiredError), () => sdk.getSecretByReference({ ...user, encryptionSession: u2 }, 'default')));
    await step('get-secret-verified', async () => {
      const s = await sdk.getSecret({ ...user, encryptionSession: v1 });
      assert(s.secret === 'otp-project-secret' && s.entropy === 'project', 'project share through a verified session');
    });
    await step('keychain-verified', async () => {
      const shares = await sdk.keychain({ ...user, encryptionSession: v2 });
      assert(shares.length === 1 && shares[0].secret === 'otp-project-secret', 'keychain through a verified session');
    });
  }
  done();
} catch (e) {
  fail(e);
}
