//! docs/guardian.md, "Okta": the Okta Authentication API (primary authentication, PASSWORD_WARN skip,
//! Okta Verify push with bounded polling) and the organisation (group) check.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::url::{Url, encode_segment};
use guest_kit::{Clock, Fetch, OutboundRequest};

/// Per-call timeout (docs/guardian.md, "Okta").
pub const CALL_TIMEOUT_MS: u64 = 10_000;
/// How long one login may talk to Okta, push wait included, from its first call on: inside the
/// host's default 30 s request deadline with room for the cancel and the login's own work, so a
/// push answered late is a 401 `MFA_TIMEOUT`, never the host's 504 (docs/guardian.md, "Okta").
pub const LOGIN_BUDGET_MS: u64 = 25_000;
/// The cancel posted when the push wait ends, past [`LOGIN_BUDGET_MS`] (best effort).
pub const CANCEL_TIMEOUT_MS: u64 = 2_000;
/// Upper bound on state transitions of one login (a misbehaving IdP cannot loop us forever).
const MAX_STEPS: usize = 1_000;

pub struct Okta<'a> {
    pub out: &'a dyn Fetch,
    /// The push poll's bound and its sleeps.
    pub clock: &'a dyn Clock,
    pub base: Url,
    pub poll_interval_ms: u64,
    pub mfa_timeout_ms: u64,
    /// On `clock`: when every call, and the push wait, must be over (the login's start plus
    /// [`LOGIN_BUDGET_MS`]).
    pub deadline_ms: u64,
}

fn unavailable(why: &str) -> ApiError {
    ApiError::idp_unavailable(format!("identity provider unavailable: {why}"))
}

fn err(status: u16, code: &'static str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

impl Okta<'_> {
    /// One call, cut to what is left of the login's budget.
    fn call(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&Value>,
        auth: Option<&str>,
    ) -> Result<Value, ApiError> {
        let left = self.deadline_ms.saturating_sub(self.clock.monotonic_ms());
        if left == 0 {
            return Err(unavailable("no time left to ask it within the request"));
        }
        self.call_within(method, url, body, auth, left.min(CALL_TIMEOUT_MS))
    }

    fn call_within(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&Value>,
        auth: Option<&str>,
        timeout_ms: u64,
    ) -> Result<Value, ApiError> {
        let target = Url::parse(url).ok_or_else(|| unavailable("invalid link"))?;
        if !target.same_origin(&self.base) {
            return Err(unavailable("link outside the configured Okta origin"));
        }
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        if let Some(token) = auth {
            headers.push(("authorization".to_owned(), format!("SSWS {token}")));
        }
        let req = OutboundRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            timeout_ms,
        };
        let resp = self
            .out
            .fetch(&req)
            .map_err(|_| unavailable("request failed"))?;
        match resp.status {
            200..=299 => {
                serde_json::from_slice(&resp.body).map_err(|_| unavailable("answer is not JSON"))
            }
            // E0000004 (and unknown users, which look the same by Okta's design).
            401 => Err(err(
                401,
                "IDP_INVALID_CREDENTIALS",
                "the identity provider rejected the credentials",
            )),
            s => Err(unavailable(&format!("HTTP {s}"))),
        }
    }

    fn post_state(&self, href: &str, state_token: &str) -> Result<Value, ApiError> {
        self.call(
            "POST",
            href,
            Some(&json!({ "stateToken": state_token })),
            None,
        )
    }

    /// Primary authentication through to SUCCESS; returns the Okta user id.
    pub fn authenticate(&self, username: &str, password: &str) -> Result<String, ApiError> {
        let url = format!("{}/api/v1/authn", self.base.origin());
        let mut answer = self.call(
            "POST",
            &url,
            Some(&json!({ "username": username, "password": password })),
            None,
        )?;
        let mut mfa_deadline: Option<u64> = None;
        for _ in 0..MAX_STEPS {
            match self.step(&answer, &mut mfa_deadline)? {
                Step::Done(user_id) => return Ok(user_id),
                Step::Next(next) => answer = next,
            }
        }
        Err(unavailable("too many authentication steps"))
    }

    /// One state of the transaction: its user id at SUCCESS, the next answer for the states
    /// guardian walks through, the error for every other state.
    fn step(&self, answer: &Value, mfa_deadline: &mut Option<u64>) -> Result<Step, ApiError> {
        let status = answer
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| unavailable("answer without status"))?;
        match status {
            "SUCCESS" => success_user_id(answer).map(Step::Done),
            "PASSWORD_WARN" => {
                let href = link(answer, "/_links/skip/href")?;
                self.advance(answer, &href).map(Step::Next)
            }
            "MFA_REQUIRED" => self.start_push(answer, mfa_deadline).map(Step::Next),
            "MFA_CHALLENGE" => self.poll_push(answer, mfa_deadline).map(Step::Next),
            other => Err(refused(other)),
        }
    }

    /// Posts the transaction's `stateToken` to `href`, a link of (or under) `answer`.
    fn advance(&self, answer: &Value, href: &str) -> Result<Value, ApiError> {
        let state = state_token(answer).ok_or_else(|| unavailable("no stateToken"))?;
        self.post_state(href, state)
    }

    /// When the push poll gives up: `okta_mfa_timeout_seconds` from the first MFA state of the
    /// login on, and never past the login's budget.
    fn push_deadline(&self) -> u64 {
        self.clock
            .monotonic_ms()
            .saturating_add(self.mfa_timeout_ms)
            .min(self.deadline_ms)
    }

    /// MFA_REQUIRED: asks for an Okta Verify push, the only factor guardian supports.
    fn start_push(
        &self,
        answer: &Value,
        mfa_deadline: &mut Option<u64>,
    ) -> Result<Value, ApiError> {
        let factors = answer
            .pointer("/_embedded/factors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let push = factors.iter().find(|f| {
            f.get("factorType").and_then(Value::as_str) == Some("push")
                && f.get("provider").and_then(Value::as_str) == Some("OKTA")
        });
        let Some(push) = push else {
            return Err(err(
                403,
                "MFA_FACTOR_UNSUPPORTED",
                "the account has no Okta Verify push factor",
            ));
        };
        let href = link(push, "/_links/verify/href")?;
        mfa_deadline.get_or_insert(self.push_deadline());
        self.advance(answer, &href)
    }

    /// MFA_CHALLENGE: polls the push until it is answered, within the deadline.
    fn poll_push(&self, answer: &Value, mfa_deadline: &mut Option<u64>) -> Result<Value, ApiError> {
        match answer
            .get("factorResult")
            .and_then(Value::as_str)
            .unwrap_or("")
        {
            "WAITING" => {}
            "REJECTED" => return Err(err(401, "MFA_REJECTED", "the push was rejected")),
            "TIMEOUT" => return Err(mfa_timeout()),
            other => return Err(unsupported(&format!("MFA_CHALLENGE/{}", other))),
        }
        let deadline = *mfa_deadline.get_or_insert(self.push_deadline());
        let now = self.clock.monotonic_ms();
        if now >= deadline {
            return Err(self.give_up(answer));
        }
        self.clock
            .sleep_ms(self.poll_interval_ms.min(deadline - now));
        if self.clock.monotonic_ms() >= deadline {
            return Err(self.give_up(answer));
        }
        let href = link(answer, "/_links/next/href")?;
        self.advance(answer, &href)
    }

    /// The push was not answered in time: the transaction is cancelled.
    fn give_up(&self, answer: &Value) -> ApiError {
        self.cancel(answer, state_token(answer));
        mfa_timeout()
    }

    /// Best effort: tell Okta to drop the transaction, within [`CANCEL_TIMEOUT_MS`] even when
    /// the budget is spent.
    fn cancel(&self, answer: &Value, state_token: Option<&str>) {
        if let (Ok(href), Some(st)) = (link(answer, "/_links/cancel/href"), state_token) {
            let body = json!({ "stateToken": st });
            let _ = self.call_within("POST", &href, Some(&body), None, CANCEL_TIMEOUT_MS);
        }
    }

    /// The organisation check: the user must be in the group named `group`.
    pub fn in_group(&self, user_id: &str, api_token: &str, group: &str) -> Result<bool, ApiError> {
        let url = format!(
            "{}/api/v1/users/{}/groups",
            self.base.origin(),
            encode_segment(user_id)
        );
        let answer = self.call("GET", &url, None, Some(api_token)).map_err(|e| {
            if e.status == 401 {
                unavailable("the group lookup was refused")
            } else {
                e
            }
        })?;
        let groups = answer
            .as_array()
            .ok_or_else(|| unavailable("groups answer is not a list"))?;
        Ok(groups
            .iter()
            .any(|g| g.pointer("/profile/name").and_then(Value::as_str) == Some(group)))
    }
}

/// Where one state of the transaction leads.
enum Step {
    /// SUCCESS: the Okta user id.
    Done(String),
    /// Okta's answer to the next call.
    Next(Value),
}

fn state_token(answer: &Value) -> Option<&str> {
    answer.get("stateToken").and_then(Value::as_str)
}

/// SUCCESS: the user id, at most 128 bytes.
fn success_user_id(answer: &Value) -> Result<String, ApiError> {
    answer
        .pointer("/_embedded/user/id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .map(str::to_owned)
        .ok_or_else(|| unavailable("SUCCESS without a user id"))
}

/// The states that end a login without a user: the account must be fixed with Okta first, or
/// the state is one guardian does not handle.
fn refused(status: &str) -> ApiError {
    match status {
        "LOCKED_OUT" => err(403, "IDP_ACCOUNT_LOCKED", "the account is locked"),
        "PASSWORD_EXPIRED" => err(
            403,
            "IDP_PASSWORD_EXPIRED",
            "the password has expired; change it with the identity provider",
        ),
        "MFA_ENROLL" | "MFA_ENROLL_ACTIVATE" => err(
            403,
            "MFA_ENROLL_REQUIRED",
            "enrol Okta Verify push with the identity provider first",
        ),
        other => unsupported(other),
    }
}

fn mfa_timeout() -> ApiError {
    err(401, "MFA_TIMEOUT", "the push was not answered in time")
}

fn unsupported(status: &str) -> ApiError {
    // Only a sanitised, short form of the IdP's status reaches the message.
    let shown: String = status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '/')
        .take(64)
        .collect();
    err(
        401,
        "IDP_STATUS_UNSUPPORTED",
        &format!("unsupported identity provider status {shown}"),
    )
}

fn link(v: &Value, pointer: &str) -> Result<String, ApiError> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unavailable("answer without the expected link"))
}
