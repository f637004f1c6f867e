//! One response wrapper for every harness: the native drivers convert `guest_kit::Response`
//! into it, keyward-e2e reads it off the wire (there it is also named `Resp`).

use serde_json::Value;

/// A response, fully read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of a header, names compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; a body that is not JSON fails the test, naming what it was.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as JSON, or `Null` when it is not JSON (for messages about any response).
    pub fn json_or_null(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error `code`, or "" when there is none.
    pub fn code(&self) -> String {
        self.json_or_null()["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The error `message`, or "" when there is none.
    pub fn message(&self) -> String {
        self.json_or_null()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts the platform's error shape (a `message` string and a `code`) and returns the code.
    #[track_caller]
    pub fn error_code(&self) -> String {
        let j = self.json();
        assert!(j["message"].is_string(), "error body without message: {j}");
        j["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error body without code: {j}"))
            .to_owned()
    }

    /// Every error is exactly `{"message","code"}`, as `application/json`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{:?}",
            self.headers
        );
        let v = self.json();
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("error body is not an object: {v}"));
        assert_eq!(obj.len(), 2, "only message and code: {v}");
        assert!(obj.get("message").is_some_and(Value::is_string), "{v}");
        assert_eq!(obj.get("code"), Some(&Value::from(code)), "{v}");
    }

    /// [`Reply::assert_error`] and the exact message.
    #[track_caller]
    pub fn assert_error_message(&self, status: u16, code: &str, message: &str) {
        self.assert_error(status, code);
        assert_eq!(self.message(), message, "body: {}", self.text());
    }

    /// Asserts a JSON success with `status` and returns its body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }
}

impl From<guest_kit::Response> for Reply {
    fn from(r: guest_kit::Response) -> Self {
        Reply {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}
