//! The audit chain (docs/OPERATIONS.md, "Audit trail"): one record per security-relevant
//! request, linked into a keyed hash chain per database.
//!
//! ```text
//! key    = HKDF-SHA256(ikm = master_key, salt = none, info = "keyward/audit/chain/v1", L = 32)
//! key_id = hex(HMAC-SHA256(key, "keyward/audit/key-id"))[..16]
//! mac_n  = HMAC-SHA256(key, "keyward-audit-v1" ‖ mac_{n-1} ‖ be64(seq) ‖ be64(time_ms)
//!                           ‖ for each text field in order: be32(len) ‖ bytes)
//! mac_0  = 32 zero bytes
//! ```
//!
//! The text fields, in MAC order: request id, service, action, outcome, code, actor, client,
//! object, details, key id. Every field is covered, the sequence number included, so a record
//! that is modified, removed, inserted or moved breaks the chain at that record. Someone who can
//! write the database but does not hold `master_key` cannot compute a link. Removing records
//! from the *end* leaves a shorter valid chain: only a head kept elsewhere (the `audit verify`
//! output shipped off the machine) shows it.
//!
//! This crate is pure: the services append through guest-kit, the host's `keyward audit`
//! verifies and exports, and neither depends on the other.

#![forbid(unsafe_code)]

use envelope::MasterKey;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// HKDF `info` of the chain key: no other use of `master_key` derives the same key.
pub const KEY_INFO: &[u8] = b"keyward/audit/chain/v1";
const KEY_ID_LABEL: &[u8] = b"keyward/audit/key-id";
const DOMAIN: &[u8] = b"keyward-audit-v1";
/// The link before the first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// Longest text field a record keeps, in bytes; longer values (identifiers a client chose) are
/// cut at a character boundary when the record is built, so a record stays small.
pub const MAX_FIELD_BYTES: usize = 512;

type HmacSha256 = Hmac<Sha256>;

/// The chain's tables and the statements that append to it, in the portable SQL every backend
/// runs (docs/platform.md, "Design: portable SQL"): the services append through guest-kit, and
/// `keyward rewrap` appends its own record, with the same statements.
pub mod sql {
    /// Created on first use; `MARKER` names the table made last.
    pub const MARKER: &str = "audit_schema_v1";
    /// BIGINT, not INTEGER: on PostgreSQL INTEGER is 32 bits. `audit_head` holds the last
    /// sequence number and link: appending updates it first, so on PostgreSQL concurrent
    /// appenders queue on its row lock and the chain stays one line, and on SQLite the write
    /// lock already orders them.
    pub const TABLES: &[&str] = &[
        "CREATE TABLE IF NOT EXISTS audit_log (seq BIGINT PRIMARY KEY, time_ms BIGINT NOT NULL, \
         request_id TEXT NOT NULL, service TEXT NOT NULL, action TEXT NOT NULL, \
         outcome TEXT NOT NULL, code TEXT NOT NULL, actor TEXT NOT NULL, client TEXT NOT NULL, \
         object TEXT NOT NULL, details TEXT NOT NULL, key_id TEXT NOT NULL, mac TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, \
         mac TEXT NOT NULL)",
        "INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING",
    ];
    /// Takes the next sequence number and returns it with the link before it: the `UPDATE`
    /// comes first so that it takes the head's row lock before reading it.
    pub const ADVANCE_HEAD: &str =
        "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, mac";
    /// The record, its thirteen values in [`crate::Record`]'s order and then its link.
    pub const INSERT: &str = "INSERT INTO audit_log (seq, time_ms, request_id, service, action, \
         outcome, code, actor, client, object, details, key_id, mac) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    /// The head's new link.
    pub const SET_HEAD: &str = "UPDATE audit_head SET mac = ? WHERE id = 1";
}

/// The link before the next record, from the head's stored link (empty before the first).
pub fn previous_link(head_mac: &str) -> Option<[u8; 32]> {
    let mut prev = GENESIS;
    if !head_mac.is_empty() {
        hex::decode_to_slice(head_mac, &mut prev).ok()?;
    }
    Some(prev)
}

/// One audit record as stored. `details` is a JSON object (text), `code` is empty on success.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub seq: i64,
    pub time_ms: i64,
    pub request_id: String,
    pub service: String,
    pub action: String,
    pub outcome: String,
    pub code: String,
    pub actor: String,
    pub client: String,
    pub object: String,
    pub details: String,
    pub key_id: String,
}

/// One value of [`sql::INSERT`], for the caller's own SQL value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column<'a> {
    Integer(i64),
    Text(&'a str),
}

impl Record {
    /// [`sql::INSERT`]'s values for this record and its link, in its column order.
    pub fn columns<'a>(&'a self, link: &'a str) -> [Column<'a>; 13] {
        let [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9] = self.texts();
        [
            Column::Integer(self.seq),
            Column::Integer(self.time_ms),
            Column::Text(t0),
            Column::Text(t1),
            Column::Text(t2),
            Column::Text(t3),
            Column::Text(t4),
            Column::Text(t5),
            Column::Text(t6),
            Column::Text(t7),
            Column::Text(t8),
            Column::Text(t9),
            Column::Text(link),
        ]
    }

    fn texts(&self) -> [&str; 10] {
        [
            &self.request_id,
            &self.service,
            &self.action,
            &self.outcome,
            &self.code,
            &self.actor,
            &self.client,
            &self.object,
            &self.details,
            &self.key_id,
        ]
    }
}

/// `value` cut to at most [`MAX_FIELD_BYTES`], at a character boundary.
pub fn bounded(value: &str) -> String {
    let mut end = value.len().min(MAX_FIELD_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.get(..end).unwrap_or_default().to_owned()
}

/// The chain key could not be derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit chain key cannot be derived from master_key")]
pub struct KeyError;

/// The MAC key of one chain, derived from `master_key`. `Debug` never shows it.
#[derive(Clone)]
pub struct ChainKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl core::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ChainKey({})", self.id)
    }
}

impl ChainKey {
    pub fn derive(master: &MasterKey) -> Result<Self, KeyError> {
        let key = master.derive(KEY_INFO).map_err(|_| KeyError)?;
        let mut mac = HmacSha256::new_from_slice(key.as_slice()).map_err(|_| KeyError)?;
        mac.update(KEY_ID_LABEL);
        let digest = mac.finalize().into_bytes();
        let id = hex::encode(digest.get(..8).unwrap_or_default());
        Ok(Self { key, id })
    }

    /// Names the key without revealing it: records carry it, so a verifier holding several
    /// master keys (rotation) knows which one made each link.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn keyed(&self) -> HmacSha256 {
        // HMAC takes a key of any length, so this never fails for 32 bytes; the fallback keeps
        // the code free of panics.
        HmacSha256::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()))
    }

    fn input(&self, prev: &[u8; 32], record: &Record) -> HmacSha256 {
        let mut mac = self.keyed();
        mac.update(DOMAIN);
        mac.update(prev);
        mac.update(&record.seq.to_be_bytes());
        mac.update(&record.time_ms.to_be_bytes());
        for text in record.texts() {
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            mac.update(&len.to_be_bytes());
            mac.update(text.as_bytes());
        }
        mac
    }

    /// The link of `record` after the link `prev`.
    pub fn link(&self, prev: &[u8; 32], record: &Record) -> [u8; 32] {
        self.input(prev, record).finalize().into_bytes().into()
    }

    /// Whether `mac` is the link of `record` after `prev`, compared in constant time.
    pub fn check(&self, prev: &[u8; 32], record: &Record, mac: &[u8]) -> bool {
        self.input(prev, record).verify_slice(mac).is_ok()
    }
}

/// Where a chain breaks: the first record that does not follow from the ones before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error(
        "record {found} follows record {previous}: record {expected} is missing or out of place"
    )]
    Sequence {
        previous: i64,
        expected: i64,
        found: i64,
    },
    #[error("record {seq} was written under key {key_id}, which is not among the keys given")]
    UnknownKey { seq: i64, key_id: String },
    #[error("record {seq} does not match its link: it, or a record before it, was modified")]
    Mac { seq: i64 },
    #[error("record {seq} has a malformed link")]
    Malformed { seq: i64 },
    #[error(
        "the chain's head says {head_seq} records, the last record is {last_seq}: records were removed from the end"
    )]
    Head { head_seq: i64, last_seq: i64 },
    #[error("the chain's head does not match its last record {seq}")]
    HeadMac { seq: i64 },
}

/// Checks a chain record by record, in sequence order.
#[derive(Debug)]
pub struct Verifier<'k> {
    keys: &'k [ChainKey],
    prev: [u8; 32],
    last: i64,
}

impl<'k> Verifier<'k> {
    /// A verifier for a chain from its first record, with every key that may have made a link.
    pub fn new(keys: &'k [ChainKey]) -> Self {
        Self {
            keys,
            prev: GENESIS,
            last: 0,
        }
    }

    /// How many records have been checked (the last good sequence number).
    pub fn last(&self) -> i64 {
        self.last
    }

    /// The last good link, hex: with [`Verifier::last`], the head to keep elsewhere.
    pub fn head(&self) -> String {
        hex::encode(self.prev)
    }

    /// Checks the next record and its stored link (hex).
    pub fn push(&mut self, record: &Record, mac_hex: &str) -> Result<(), Break> {
        let expected = self.last.saturating_add(1);
        if record.seq != expected {
            return Err(Break::Sequence {
                previous: self.last,
                expected,
                found: record.seq,
            });
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id == record.key_id)
            .ok_or_else(|| Break::UnknownKey {
                seq: record.seq,
                key_id: record.key_id.clone(),
            })?;
        let mut mac = [0u8; 32];
        hex::decode_to_slice(mac_hex, &mut mac)
            .map_err(|_| Break::Malformed { seq: record.seq })?;
        if !key.check(&self.prev, record, &mac) {
            return Err(Break::Mac { seq: record.seq });
        }
        self.prev = mac;
        self.last = record.seq;
        Ok(())
    }

    /// Checks the stored head (sequence number and link) against the last record.
    pub fn finish(&self, head_seq: i64, head_mac_hex: &str) -> Result<(), Break> {
        if head_seq != self.last {
            return Err(Break::Head {
                head_seq,
                last_seq: self.last,
            });
        }
        let expected = if self.last == 0 {
            String::new()
        } else {
            self.head()
        };
        if head_mac_hex != expected {
            return Err(Break::HeadMac { seq: self.last });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
