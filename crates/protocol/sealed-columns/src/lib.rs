//! Every column that holds a sealed envelope (docs/platform.md, "Design: sealing at rest"), with
//! what opening it needs: the kind of data's HKDF `info` and the row's AAD. The services seal
//! and open with these definitions, and `keyward rewrap` re-seals every column under the current
//! master key with the same ones, so the two can never disagree.
//!
//! A column is described as data ([`SealedColumn`]): its table, the columns that identify a row
//! (the table's primary key, also the order in which a re-wrap walks it), the columns its AAD is
//! built from, and a filter for tables where only some rows are sealed.

#![forbid(unsafe_code)]

/// keyservice's sealed columns (docs/keyservice.md, "Design: storage and sealing").
pub mod keyservice {
    pub const VALUE_INFO: &[u8] = b"keyward/keyservice/value/v1";
    pub const INIT_TOKEN_INFO: &[u8] = b"keyward/keyservice/init-token/v1";
    pub const SESSION_INFO: &[u8] = b"keyward/keyservice/session/v1";
    pub const NAMESPACE_SECRET_INFO: &[u8] = b"keyward/keyservice/namespace-secret/v1";

    /// A stored key's AAD. Namespaces cannot contain `|`, so it is unambiguous.
    pub fn aad_value(namespace: &str, user_id: &str) -> String {
        format!("keyservice|{namespace}|{user_id}")
    }

    pub fn aad_init(token_hash: &str) -> String {
        format!("keyservice|init|{token_hash}")
    }

    pub fn aad_session(token_digest: &str) -> String {
        format!("keyservice|session|{token_digest}")
    }

    pub fn aad_namespace(namespace: &str) -> String {
        format!("keyservice|namespace|{namespace}")
    }

    /// The AAD of a namespace's previous secret: its own, so that the current and the previous
    /// envelope cannot be swapped, and naming the expiry, so that a database writer who moves
    /// the expiry makes the envelope fail to open instead of extending the overlap.
    pub fn aad_namespace_previous(namespace: &str, expires_at_ms: &str) -> String {
        format!("keyservice|namespace-previous|{namespace}|{expires_at_ms}")
    }
}

/// shield's sealed columns (docs/shield.md, "Storage"): one `info`, and an AAD naming the table
/// and the row.
pub mod shield {
    pub const INFO: &[u8] = b"keyward/shield/at-rest/v1";

    pub fn aad(table: &str, id: &str) -> String {
        format!("shield|{table}|{id}")
    }
}

/// guardian's sealed columns (docs/guardian.md, "Design: keys" and "Storage").
pub mod guardian {
    pub const MNEMONIC_INFO: &[u8] = b"keyward/guardian/mnemonic/v1";
    pub const CONFIG_INFO: &[u8] = b"keyward/guardian/config/v1";
    /// A user's account key (`m/44'/60'/0'/0`), what signing opens instead of the mnemonic.
    pub const ACCOUNT_KEY_INFO: &[u8] = b"keyward/guardian/account-key/v1";
    /// The one `gd_config` setting that is sealed (the others are not secret).
    pub const SEALED_SETTING: &str = "okta_api_token";

    /// A user's mnemonic is bound to the user id.
    pub fn aad_mnemonic(user_id: &str) -> String {
        user_id.to_owned()
    }

    /// A user's account key is bound to the user id.
    pub fn aad_account_key(user_id: &str) -> String {
        format!("guardian|account-key|{user_id}")
    }

    pub fn aad_config(name: &str) -> String {
        format!("guardian|config|{name}")
    }
}

/// One sealed column.
#[derive(Clone, Copy)]
pub struct SealedColumn {
    pub service: &'static str,
    pub table: &'static str,
    /// The primary key's columns.
    pub key: &'static [&'static str],
    pub column: &'static str,
    pub info: &'static [u8],
    /// The columns the AAD is built from, in the order [`SealedColumn::aad`] takes them (read
    /// as text; an integer column as its decimal digits).
    pub aad_from: &'static [&'static str],
    /// The AAD from those columns' values; `None` if a value is missing.
    pub aad: fn(&[String]) -> Option<String>,
    /// A condition on the row for tables where only some rows hold a sealed value.
    pub only_where: Option<&'static str>,
}

impl std::fmt::Debug for SealedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

fn one(values: &[String], f: fn(&str) -> String) -> Option<String> {
    values.first().map(|v| f(v))
}

fn two(values: &[String], f: fn(&str, &str) -> String) -> Option<String> {
    match values {
        [a, b] => Some(f(a, b)),
        _ => None,
    }
}

/// Every sealed column of every service.
pub const COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        service: "keyservice",
        table: "ks_key",
        key: &["namespace", "user_id"],
        column: "value_ct",
        info: keyservice::VALUE_INFO,
        aad_from: &["namespace", "user_id"],
        aad: |v| two(v, keyservice::aad_value),
        only_where: None,
    },
    SealedColumn {
        service: "keyservice",
        table: "ks_init_token",
        key: &["token_hash"],
        column: "token_ct",
        info: keyservice::INIT_TOKEN_INFO,
        aad_from: &["token_hash"],
        aad: |v| one(v, keyservice::aad_init),
        only_where: None,
    },
    SealedColumn {
        service: "keyservice",
        table: "ks_session",
        key: &["token_digest"],
        column: "init_token_ct",
        info: keyservice::SESSION_INFO,
        aad_from: &["token_digest"],
        aad: |v| one(v, keyservice::aad_session),
        only_where: None,
    },
    SealedColumn {
        service: "keyservice",
        table: "ks_namespace",
        key: &["namespace"],
        column: "secret_ct",
        info: keyservice::NAMESPACE_SECRET_INFO,
        aad_from: &["namespace"],
        aad: |v| one(v, keyservice::aad_namespace),
        only_where: None,
    },
    SealedColumn {
        service: "keyservice",
        table: "ks_namespace_previous_secret",
        key: &["namespace"],
        column: "secret_ct",
        info: keyservice::NAMESPACE_SECRET_INFO,
        aad_from: &["namespace", "expires_at"],
        aad: |v| two(v, keyservice::aad_namespace_previous),
        only_where: None,
    },
    SealedColumn {
        service: "shield",
        table: "encryption_keys",
        key: &["project_id"],
        column: "db_part",
        info: shield::INFO,
        aad_from: &["project_id"],
        aad: |v| one(v, |id| shield::aad("encryption_keys", id)),
        only_where: None,
    },
    SealedColumn {
        service: "shield",
        table: "shares",
        key: &["id"],
        column: "data",
        info: shield::INFO,
        aad_from: &["id"],
        aad: |v| one(v, |id| shield::aad("shares", id)),
        only_where: None,
    },
    SealedColumn {
        service: "shield",
        table: "encryption_sessions",
        key: &["id"],
        column: "encryption_part",
        info: shield::INFO,
        aad_from: &["id"],
        aad: |v| one(v, |id| shield::aad("encryption_sessions", id)),
        only_where: None,
    },
    SealedColumn {
        service: "guardian",
        table: "gd_user",
        key: &["user_id"],
        column: "mnemonic_ct",
        info: guardian::MNEMONIC_INFO,
        aad_from: &["user_id"],
        aad: |v| one(v, guardian::aad_mnemonic),
        only_where: None,
    },
    SealedColumn {
        service: "guardian",
        table: "gd_signing_key",
        key: &["user_id"],
        column: "account_ct",
        info: guardian::ACCOUNT_KEY_INFO,
        aad_from: &["user_id"],
        aad: |v| one(v, guardian::aad_account_key),
        only_where: None,
    },
    SealedColumn {
        service: "guardian",
        table: "gd_config",
        key: &["name"],
        column: "value",
        info: guardian::CONFIG_INFO,
        aad_from: &["name"],
        aad: |v| one(v, guardian::aad_config),
        only_where: Some("name = 'okta_api_token'"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_builds_its_aad_from_its_values() {
        for c in COLUMNS {
            let values: Vec<String> = c.aad_from.iter().map(|n| format!("<{n}>")).collect();
            let aad = (c.aad)(&values).expect("an AAD");
            for v in &values {
                assert!(aad.contains(v.as_str()), "{c:?}: {aad}");
            }
            assert_eq!((c.aad)(&[]), None, "{c:?}");
            assert!(!c.key.is_empty());
        }
        assert_eq!(
            keyservice::aad_value("my_cool_website", "347"),
            "keyservice|my_cool_website|347"
        );
        assert_eq!(
            COLUMNS
                .iter()
                .filter(|c| c.only_where.is_some())
                .map(|c| c.only_where)
                .collect::<Vec<_>>(),
            [Some("name = 'okta_api_token'")]
        );
        assert_eq!(guardian::SEALED_SETTING, "okta_api_token");
    }
}
