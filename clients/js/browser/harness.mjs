// What the browser scripts share: their settings from the environment (the end-to-end test
// `browser` sets them) and Debian's Chromium, headless, through playwright-core.
import { chromium } from "playwright-core";

/** A setting the end-to-end test passes; a clear error when run by hand without it. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through \`cargo test --test browser\`)`);
  return v;
}

/** Debian's Chromium (never a downloaded one), headless. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.KEYWARD_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
  });
}
