"""Credentials for the schema-driven API fuzzing (docs/RELIABILITY.md, "Fuzzing the APIs").

Loaded by the OpenAPI fuzzer (SCHEMATHESIS_HOOKS) in the end-to-end test `api_fuzz`, which
creates the credentials on a running host and passes them in the environment. Static headers
(the admin token, shield's project key and user token) come from the command line; what must
be computed per request is done here, on the request exactly as it is sent:

- keyservice `/connect` and `/key`: the `ss1` session header, signed over the final method,
  path with query, body bytes and date, with a fresh CSPRNG nonce per request.
- guardian's end-user routes: single-use bearer tokens, chained. Every answer that carries
  `fresh_client_token` replaces the token held; when none is held, the user logs in again.
"""

import atexit
import collections
import email.utils
import hashlib
import hmac
import json
import os
import secrets
import threading

import requests
import schemathesis

BASE = os.environ["KEYWARD_FUZZ_BASE"]


class SessionistAuth(requests.auth.AuthBase):
    """Signs a prepared request with `ss1` (docs/keyservice.md, "Design: the ss1 session header")."""

    def __init__(self, keyid, secret):
        self.keyid = keyid
        self.secret = secret.encode()

    def __call__(self, r):
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        nonce = secrets.token_bytes(64)
        date = email.utils.formatdate(usegmt=True)
        message = nonce + r.method.encode() + r.path_url.encode() + body + date.encode()
        digest = hmac.new(self.secret, message, hashlib.sha512).hexdigest()
        r.headers["Authorization"] = f"ss1 keyid={self.keyid}, hash={digest}, nonce={nonce.hex()}"
        r.headers["X-Date"] = date
        return r


class GuardianTokens(requests.auth.AuthBase):
    """The latest single-use client token; a fresh login when none is held."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token = None
        self.logins = 0

    def __call__(self, r):
        with self.lock:
            if self.token is None:
                answer = requests.post(
                    f"{BASE}/guardian/login",
                    json={
                        "okta_username": os.environ["KEYWARD_FUZZ_GUARDIAN_USER"],
                        "okta_password": "pw",
                    },
                    timeout=30,
                )
                self.logins += 1
                self.token = answer.json().get("client_token")
            if self.token is not None:
                r.headers["Authorization"] = f"Bearer {self.token}"
                r.headers.pop("X-Vault-Token", None)
        return r

    def observe(self, response):
        try:
            fresh = json.loads(response.content or b"null")
        except ValueError:
            fresh = None
        fresh = fresh.get("fresh_client_token") if isinstance(fresh, dict) else None
        with self.lock:
            if fresh:
                self.token = fresh
            elif response.status_code == 401:
                self.token = None


KEYSERVICE_CONNECT = SessionistAuth(
    os.environ.get("KEYWARD_FUZZ_NAMESPACE", ""), os.environ.get("KEYWARD_FUZZ_NAMESPACE_SECRET", "")
)
KEYSERVICE_KEY = SessionistAuth(
    os.environ.get("KEYWARD_FUZZ_SESSION_TOKEN", ""), os.environ.get("KEYWARD_FUZZ_INIT_TOKEN", "")
)
GUARDIAN = GuardianTokens()

# The operations whose security is a guardian client token (the rest use the admin token).
GUARDIAN_ADMIN_PATHS = {"/guardian/authorize", "/guardian/revoke", "/guardian/policy", "/guardian/policy/user"}


def auth_for(path):
    if path == "/connect":
        return KEYSERVICE_CONNECT
    if path == "/key":
        return KEYSERVICE_KEY
    if path.startswith("/guardian/") and path not in GUARDIAN_ADMIN_PATHS and path not in (
        "/guardian/login",
        "/guardian/openapi.json",
    ):
        return GUARDIAN
    return None


@schemathesis.hook
def before_call(context, case, kwargs):
    auth = auth_for(case.operation.path)
    if auth is not None:
        kwargs["auth"] = auth


# Answers by status class, and the guardian logins the run needed: written where the test
# reads them (KEYWARD_FUZZ_COUNTS) when the fuzzer exits.
COUNTS = collections.Counter()


@schemathesis.hook
def after_call(context, case, response):
    COUNTS[f"{response.status_code // 100}xx"] += 1
    if response.status_code >= 500:
        COUNTS[f"{response.status_code} {case.operation.method.upper()} {case.operation.path}"] += 1
    if auth_for(case.operation.path) is GUARDIAN:
        GUARDIAN.observe(response)


@atexit.register
def write_counts():
    path = os.environ.get("KEYWARD_FUZZ_COUNTS")
    if path:
        COUNTS["guardian logins"] = GUARDIAN.logins
        with open(path, "w") as out:
            json.dump(COUNTS, out)
