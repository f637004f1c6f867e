//! Typed reading of Spin variables, with one policy for every service (docs/configuration.md):
//! an unset or blank variable takes its default, declared once here in Rust and repeated in
//! `spin.toml`'s `[variables]` (the e2e test `variable_defaults` checks that the two agree); a
//! set but invalid value is a deployment error, answered 503 `NOT_CONFIGURED` naming the
//! variable, never a silent fallback to another setting.

use crate::env::Env;
use crate::error::{ApiError, ApiResult};

/// A variable's value, trimmed; `None` when undefined or blank (Spin variables default to `""`
/// where the manifest says so).
pub fn text(env: &Env<'_>, name: &str) -> Option<String> {
    (env.vars)(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The deployment's master keys (docs/platform.md, "Design: sealing at rest"): `master_key`,
/// which seals, and `master_key_previous`, a comma-separated list of the keys it replaced, which
/// still open what they sealed. The caller words the refusal (each service answers 503
/// `NOT_CONFIGURED` in its own shape); the error never holds any part of a key.
pub fn master_keys(env: &Env<'_>) -> Result<envelope::Keyring, envelope::MasterKeyError> {
    let current = zeroize::Zeroizing::new((env.vars)("master_key").unwrap_or_default());
    let previous = zeroize::Zeroizing::new((env.vars)("master_key_previous").unwrap_or_default());
    envelope::Keyring::parse(&current, &previous)
}

/// The error for a variable whose value is set but invalid. The value is never quoted: it may
/// be a secret.
pub fn invalid(name: &str) -> ApiError {
    ApiError::not_configured(format!("configuration variable {name} is invalid"))
}

/// A non-negative integer variable with its default and accepted range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer {
    pub name: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

impl Integer {
    /// Any `u64` is accepted; narrow with [`Integer::range`].
    pub const fn new(name: &'static str, default: u64) -> Self {
        Self {
            name,
            default,
            min: 0,
            max: u64::MAX,
        }
    }

    pub const fn range(self, min: u64, max: u64) -> Self {
        Self { min, max, ..self }
    }

    /// The value, the default when unset, or 503 when set but not an integer in range.
    pub fn read(&self, env: &Env<'_>) -> ApiResult<u64> {
        let Some(value) = text(env, self.name) else {
            return Ok(self.default);
        };
        value
            .parse::<u64>()
            .ok()
            .filter(|v| (self.min..=self.max).contains(v))
            .ok_or_else(|| invalid(self.name))
    }

    /// [`Integer::read`] as a `usize`.
    pub fn read_usize(&self, env: &Env<'_>) -> ApiResult<usize> {
        usize::try_from(self.read(env)?).map_err(|_| invalid(self.name))
    }

    /// [`Integer::read`] times 1000, for seconds compared with unix-millisecond timestamps.
    pub fn read_ms(&self, env: &Env<'_>) -> ApiResult<i64> {
        let seconds = self.read(env)?;
        Ok(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX))
    }
}

/// A `true` / `false` variable with its default; any other value is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub default: bool,
}

impl Flag {
    pub const fn new(name: &'static str, default: bool) -> Self {
        Self { name, default }
    }

    pub fn read(&self, env: &Env<'_>) -> ApiResult<bool> {
        match text(env, self.name).as_deref() {
            None => Ok(self.default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(invalid(self.name)),
        }
    }
}

/// A text variable with a non-empty default (a URL, a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub name: &'static str,
    pub default: &'static str,
}

impl Text {
    pub const fn new(name: &'static str, default: &'static str) -> Self {
        Self { name, default }
    }

    /// The value, trimmed, or the default when unset or blank.
    pub fn read(&self, env: &Env<'_>) -> String {
        text(env, self.name).unwrap_or_else(|| self.default.to_owned())
    }
}

/// A declared variable, for the check of its default against `spin.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    Integer(Integer),
    Flag(Flag),
    Text(Text),
}

impl Variable {
    pub fn name(&self) -> &'static str {
        match self {
            Variable::Integer(v) => v.name,
            Variable::Flag(v) => v.name,
            Variable::Text(v) => v.name,
        }
    }

    /// The default as `spin.toml` writes it.
    pub fn default_text(&self) -> String {
        match self {
            Variable::Integer(v) => v.default.to_string(),
            Variable::Flag(v) => v.default.to_string(),
            Variable::Text(v) => v.default.to_owned(),
        }
    }
}

/// A service's variables with a default, declared once: each `const` as written, and
/// `VARIABLES`, the list of them all that a test checks against `spin.toml`, so a declared
/// variable cannot be left out of the check.
///
/// ```ignore
/// guest_kit::variables! {
///     /// Requests per window; 0 turns the limit off.
///     pub const RATE_LIMIT_REQUESTS: Integer = Integer::new("rate_limit_requests", 100);
/// }
/// ```
#[macro_export]
macro_rules! variables {
    ($($(#[$attr:meta])* pub const $name:ident: $kind:ident = $value:expr;)*) => {
        $($(#[$attr])* pub const $name: $kind = $value;)*

        /// The variables with a default, for the check against `spin.toml`.
        pub const VARIABLES: &[$crate::config::Variable] =
            &[$($crate::config::Variable::$kind($name)),*];
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{Db, DbError, Rows, Value};

    struct NoDb;
    impl Db for NoDb {
        fn execute(&self, _: &str, _: &[Value]) -> Result<Rows, DbError> {
            Err(DbError::NoSuchDatabase)
        }
    }

    fn with_var<R>(value: Option<&str>, f: impl FnOnce(&Env<'_>) -> R) -> R {
        let vars = |_: &str| value.map(str::to_owned);
        f(&Env::new(&NoDb, &vars, 0))
    }

    #[test]
    fn integers_default_parse_and_refuse() {
        let v = Integer::new("n", 7).range(1, 10);
        assert_eq!(with_var(None, |e| v.read(e)), Ok(7));
        assert_eq!(with_var(Some("  "), |e| v.read(e)), Ok(7));
        assert_eq!(with_var(Some(" 9 "), |e| v.read(e)), Ok(9));
        for bad in ["0", "11", "-1", "soon"] {
            let err = with_var(Some(bad), |e| v.read(e)).expect_err(bad);
            assert_eq!((err.status, err.code), (503, "NOT_CONFIGURED"));
            assert_eq!(err.message, "configuration variable n is invalid");
        }
        assert_eq!(with_var(Some("3"), |e| v.read_ms(e)), Ok(3000));
    }

    #[test]
    fn flags_are_true_or_false() {
        let f = Flag::new("f", true);
        assert_eq!(with_var(None, |e| f.read(e)), Ok(true));
        assert_eq!(with_var(Some("false"), |e| f.read(e)), Ok(false));
        assert!(with_var(Some("yes"), |e| f.read(e)).is_err());
    }
}
