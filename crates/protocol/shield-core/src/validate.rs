//! The share validator of docs/shield.md, "Design: shares on the wire", with the [`Entropy`] and [`StorageMethod`] enums.
//!
//! [`ShareInput`] is the decoded share request (POST/PUT `/shares`, `/admin/preregister`) after
//! The JSON rules of docs/shield.md, "Design: transport": `null`, `""` and (for numbers) `0` all mean *absent* and are represented as
//! `None`. The validator also treats `Some("")` / `Some(0)` as absent, so a decoder that forgets
//! to normalise cannot change its verdict.

use core::fmt;
use core::str::FromStr;

use zeroize::Zeroizing;

/// How a share's secret is protected (`entropy` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entropy {
    /// Stored as sent (legacy; rejected on create/update, docs/shield.md, "Design: differences from upstream", item 7).
    None,
    /// Encrypted client-side with a user-derived key (salt/iterations/length/digest).
    User,
    /// Encrypted server-side with the project key K (docs/shield.md, "Design: the project key").
    Project,
    /// Encrypted client-side with a passkey.
    Passkey,
}

impl Entropy {
    /// All values, in wire order.
    pub const ALL: [Entropy; 4] = [
        Entropy::None,
        Entropy::User,
        Entropy::Project,
        Entropy::Passkey,
    ];

    /// The wire / storage spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Entropy::None => "none",
            Entropy::User => "user",
            Entropy::Project => "project",
            Entropy::Passkey => "passkey",
        }
    }

    /// Parses the exact (case-sensitive, like upstream's Go comparison) wire spelling.
    pub fn parse(value: &str) -> Option<Self> {
        Entropy::ALL.into_iter().find(|e| e.as_str() == value)
    }
}

impl fmt::Display for Entropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `entropy` value that is not one of the four spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid entropy")]
pub struct UnknownEntropy;

impl FromStr for Entropy {
    type Err = UnknownEntropy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Entropy::parse(s).ok_or(UnknownEntropy)
    }
}

/// Where the client keeps its copy (`storage_method_id`; `GET /storage-methods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageMethod {
    /// 0: kept by Shield (the default when absent).
    Shield,
    /// 1.
    GoogleDrive,
    /// 2.
    ICloud,
}

impl StorageMethod {
    /// All methods in id order, as listed by `GET /storage-methods`.
    pub const ALL: [StorageMethod; 3] = [
        StorageMethod::Shield,
        StorageMethod::GoogleDrive,
        StorageMethod::ICloud,
    ];

    /// The numeric id.
    pub const fn id(self) -> i64 {
        match self {
            StorageMethod::Shield => 0,
            StorageMethod::GoogleDrive => 1,
            StorageMethod::ICloud => 2,
        }
    }

    /// The display name of `GET /storage-methods`.
    pub const fn name(self) -> &'static str {
        match self {
            StorageMethod::Shield => "Shield",
            StorageMethod::GoogleDrive => "Google Drive",
            StorageMethod::ICloud => "iCloud",
        }
    }

    /// The method with this id, if any.
    pub fn from_id(id: i64) -> Option<Self> {
        StorageMethod::ALL.into_iter().find(|m| m.id() == id)
    }
}

/// `PasskeyEnv` (exact key spelling on the wire, docs/shield.md, "Design: transport"): the passkey's client environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasskeyEnv {
    /// Browser name.
    pub name: String,
    /// Operating system.
    pub os: String,
    /// Operating system version (`osVersion` on the wire).
    pub os_version: String,
    /// Device model or `Mobile`/`Desktop`/`Tablet`/`unknown`.
    pub device: String,
}

impl PasskeyEnv {
    /// The placeholder for a missing or empty component (docs/shield.md, "Design: shares on the wire").
    pub const UNKNOWN: &'static str = "unknown";

    /// Builds an env, replacing missing or empty components with `"unknown"`.
    pub fn new(
        name: Option<&str>,
        os: Option<&str>,
        os_version: Option<&str>,
        device: Option<&str>,
    ) -> Self {
        fn or_unknown(value: Option<&str>) -> String {
            match value {
                Some(v) if !v.is_empty() => v.to_owned(),
                _ => PasskeyEnv::UNKNOWN.to_owned(),
            }
        }
        PasskeyEnv {
            name: or_unknown(name),
            os: or_unknown(os),
            os_version: or_unknown(os_version),
            device: or_unknown(device),
        }
    }

    /// The stored form `name=…;os=…;osVersion=…;device=…` (docs/shield.md, "Design: shares on the wire").
    pub fn to_stored(&self) -> String {
        format!(
            "name={};os={};osVersion={};device={}",
            self.name, self.os, self.os_version, self.device
        )
    }

    /// Parses [`PasskeyEnv::to_stored`] output; unknown keys are ignored and missing ones become
    /// `"unknown"`. Values containing `;` do not survive the round trip (the stored format has no
    /// escaping), which only affects cosmetic User-Agent-derived names.
    pub fn from_stored(stored: &str) -> Self {
        let (mut name, mut os, mut os_version, mut device) = (None, None, None, None);
        for field in stored.split(';') {
            match field.split_once('=') {
                Some(("name", v)) => name = Some(v),
                Some(("os", v)) => os = Some(v),
                Some(("osVersion", v)) => os_version = Some(v),
                Some(("device", v)) => device = Some(v),
                _ => {}
            }
        }
        PasskeyEnv::new(name, os, os_version, device)
    }
}

/// `passkey_reference` of a share request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasskeyReference {
    /// `passkey_id`; `""` = absent.
    pub passkey_id: Option<String>,
    /// `PasskeyEnv`; absent (or `null`) → derived from `User-Agent` by the caller.
    pub passkey_env: Option<PasskeyEnv>,
}

/// A decoded share request (docs/shield.md, "Design: shares on the wire"), `None` = absent (`null`, missing, `""`, or `0` for numbers).
///
/// `secret` and `encryption_part` are secrets: wiped on drop and redacted in `Debug`;
/// `encryption_session` is a single-use bearer capability and is redacted too.
#[derive(Clone, Default)]
pub struct ShareInput {
    /// The share (ciphertext for `user`/`passkey`, plaintext for `project`).
    pub secret: Option<Zeroizing<String>>,
    /// Raw `entropy` string; parsed by the validator so that an unknown value is reported in
    /// The validator's order (docs/shield.md, "Design: shares on the wire") (after the storage method check).
    pub entropy: Option<String>,
    /// User-entropy KDF salt.
    pub salt: Option<String>,
    /// User-entropy KDF iterations.
    pub iterations: Option<i64>,
    /// User-entropy derived key length.
    pub length: Option<i64>,
    /// User-entropy KDF digest.
    pub digest: Option<String>,
    /// Project-entropy `encryption_part` (body on POST/PUT).
    pub encryption_part: Option<Zeroizing<String>>,
    /// Project-entropy `encryption_session` id.
    pub encryption_session: Option<String>,
    /// Share reference; absent means `default`.
    pub reference: Option<String>,
    /// `storage_method_id`; absent means Shield (0).
    pub storage_method_id: Option<i64>,
    /// Passkey metadata, only meaningful for `passkey` entropy.
    pub passkey_reference: Option<PasskeyReference>,
}

impl fmt::Debug for ShareInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redacted<T>(value: &Option<T>) -> &'static str {
            if value.is_some() {
                "Some([REDACTED])"
            } else {
                "None"
            }
        }
        f.debug_struct("ShareInput")
            .field("secret", &redacted(&self.secret))
            .field("entropy", &self.entropy)
            .field("salt", &self.salt)
            .field("iterations", &self.iterations)
            .field("length", &self.length)
            .field("digest", &self.digest)
            .field("encryption_part", &redacted(&self.encryption_part))
            .field("encryption_session", &redacted(&self.encryption_session))
            .field("reference", &self.reference)
            .field("storage_method_id", &self.storage_method_id)
            .field("passkey_reference", &self.passkey_reference)
            .finish()
    }
}

impl ShareInput {
    /// Applies the absence rules (docs/shield.md, "Design: transport") in place: `Some("")` and `Some(0)` become `None`
    /// (also for `passkey_reference.passkey_id`).
    pub fn normalize(mut self) -> Self {
        fn text<T: AsRef<str>>(value: &mut Option<T>) {
            if value.as_ref().is_some_and(|v| v.as_ref().is_empty()) {
                *value = None;
            }
        }
        fn number(value: &mut Option<i64>) {
            if *value == Some(0) {
                *value = None;
            }
        }
        text(&mut self.secret);
        text(&mut self.entropy);
        text(&mut self.salt);
        number(&mut self.iterations);
        number(&mut self.length);
        text(&mut self.digest);
        text(&mut self.encryption_part);
        text(&mut self.encryption_session);
        text(&mut self.reference);
        number(&mut self.storage_method_id);
        if let Some(passkey) = self.passkey_reference.as_mut() {
            text(&mut passkey.passkey_id);
        }
        self
    }

    /// The storage method, Shield when absent; `None` for an unknown id.
    pub fn storage_method(&self) -> Option<StorageMethod> {
        StorageMethod::from_id(self.storage_method_id.unwrap_or(0))
    }

    fn has_user_entropy_params(&self) -> bool {
        has_text(&self.salt)
            || has_number(self.iterations)
            || has_number(self.length)
            || has_text(&self.digest)
    }

    fn has_encryption_params(&self) -> bool {
        has_text(&self.encryption_part) || has_text(&self.encryption_session)
    }
}

fn has_text<T: AsRef<str>>(value: &Option<T>) -> bool {
    value.as_ref().is_some_and(|v| !v.as_ref().is_empty())
}

fn has_number(value: Option<i64>) -> bool {
    value.is_some_and(|v| v != 0)
}

/// A validation failure (docs/shield.md, "Design: shares on the wire"): 400 BAD_REQUEST with [`ValidationError::message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum ValidationError {
    /// `secret is required`
    SecretRequired,
    /// `invalid storage method`
    InvalidStorageMethod,
    /// `require share entropy to be set` (entropy absent or `none`)
    EntropyRequired,
    /// `salt is required when entropy is user`
    SaltRequired,
    /// `iterations is required when entropy is user`
    IterationsRequired,
    /// `length is required when entropy is user`
    LengthRequired,
    /// `digest is required when entropy is user`
    DigestRequired,
    /// `storage_method must be Shield if entropy is project`
    ProjectRequiresShield,
    /// `if user entropy is not set, encryption parameters should not be set`
    UserParamsWithoutUserEntropy,
    /// `encryption_part or encryption_session is required when entropy is project`
    EncryptionRequired,
    /// `storage_method must be Shield if entropy is passkey`
    PasskeyRequiresShield,
    /// `share needs a valid share reference if entropy is passkey`
    PasskeyShareReference,
    /// `passkey_reference must be set if entropy is passkey`
    PasskeyReferenceRequired,
    /// `passkey_reference must contain passkey_id if entropy is passkey`
    PasskeyIdRequired,
    /// `encryption parameters should not be set for passkey entropy`
    PasskeyWithEncryptionParams,
    /// `invalid entropy`
    InvalidEntropy,
}

impl ValidationError {
    /// Every variant, in the order the validator can report them.
    pub const ALL: [ValidationError; 16] = [
        ValidationError::SecretRequired,
        ValidationError::InvalidStorageMethod,
        ValidationError::EntropyRequired,
        ValidationError::SaltRequired,
        ValidationError::IterationsRequired,
        ValidationError::LengthRequired,
        ValidationError::DigestRequired,
        ValidationError::ProjectRequiresShield,
        ValidationError::UserParamsWithoutUserEntropy,
        ValidationError::EncryptionRequired,
        ValidationError::PasskeyRequiresShield,
        ValidationError::PasskeyShareReference,
        ValidationError::PasskeyReferenceRequired,
        ValidationError::PasskeyIdRequired,
        ValidationError::PasskeyWithEncryptionParams,
        ValidationError::InvalidEntropy,
    ];

    /// The exact wire message (docs/shield.md, "Design: shares on the wire").
    pub const fn message(self) -> &'static str {
        match self {
            ValidationError::SecretRequired => "secret is required",
            ValidationError::InvalidStorageMethod => "invalid storage method",
            ValidationError::EntropyRequired => "require share entropy to be set",
            ValidationError::SaltRequired => "salt is required when entropy is user",
            ValidationError::IterationsRequired => "iterations is required when entropy is user",
            ValidationError::LengthRequired => "length is required when entropy is user",
            ValidationError::DigestRequired => "digest is required when entropy is user",
            ValidationError::ProjectRequiresShield => {
                "storage_method must be Shield if entropy is project"
            }
            ValidationError::UserParamsWithoutUserEntropy => {
                "if user entropy is not set, encryption parameters should not be set"
            }
            ValidationError::EncryptionRequired => {
                "encryption_part or encryption_session is required when entropy is project"
            }
            ValidationError::PasskeyRequiresShield => {
                "storage_method must be Shield if entropy is passkey"
            }
            ValidationError::PasskeyShareReference => {
                "share needs a valid share reference if entropy is passkey"
            }
            ValidationError::PasskeyReferenceRequired => {
                "passkey_reference must be set if entropy is passkey"
            }
            ValidationError::PasskeyIdRequired => {
                "passkey_reference must contain passkey_id if entropy is passkey"
            }
            ValidationError::PasskeyWithEncryptionParams => {
                "encryption parameters should not be set for passkey entropy"
            }
            ValidationError::InvalidEntropy => "invalid entropy",
        }
    }
}

/// The reference of the default share; never valid for passkey shares.
pub const DEFAULT_REFERENCE: &str = "default";

/// Validates a share request per docs/shield.md, "Design: shares on the wire"; the first failing rule wins. On success returns the
/// parsed entropy (never [`Entropy::None`]: new `none` shares are rejected, docs/shield.md, "Design: differences from upstream", item 7).
pub fn validate_share(input: &ShareInput) -> Result<Entropy, ValidationError> {
    use ValidationError as E;

    if !has_text(&input.secret) {
        return Err(E::SecretRequired);
    }
    let storage = input.storage_method().ok_or(E::InvalidStorageMethod)?;

    // Upstream's Go switch treats "" like `none`; an unknown spelling falls to `default`.
    let entropy = match input.entropy.as_deref() {
        None | Some("") => return Err(E::EntropyRequired),
        Some(raw) => Entropy::parse(raw).ok_or(E::InvalidEntropy)?,
    };

    match entropy {
        Entropy::None => return Err(E::EntropyRequired),
        Entropy::User => {
            // `encryption_*` are ignored for user entropy (docs/shield.md, "Design: shares on the wire").
            if !has_text(&input.salt) {
                return Err(E::SaltRequired);
            }
            if !has_number(input.iterations) {
                return Err(E::IterationsRequired);
            }
            if !has_number(input.length) {
                return Err(E::LengthRequired);
            }
            if !has_text(&input.digest) {
                return Err(E::DigestRequired);
            }
        }
        Entropy::Project => {
            if storage != StorageMethod::Shield {
                return Err(E::ProjectRequiresShield);
            }
            if input.has_user_entropy_params() {
                return Err(E::UserParamsWithoutUserEntropy);
            }
            if !input.has_encryption_params() {
                return Err(E::EncryptionRequired);
            }
        }
        Entropy::Passkey => {
            if storage != StorageMethod::Shield {
                return Err(E::PasskeyRequiresShield);
            }
            // A passkey share must be addressable by a unique reference, which `default`
            // (one per user, not unique in the project) is not.
            match input.reference.as_deref() {
                None | Some("") | Some(DEFAULT_REFERENCE) => return Err(E::PasskeyShareReference),
                Some(_) => {}
            }
            let Some(passkey) = input.passkey_reference.as_ref() else {
                return Err(E::PasskeyReferenceRequired);
            };
            if !has_text(&passkey.passkey_id) {
                return Err(E::PasskeyIdRequired);
            }
            if input.has_user_entropy_params() {
                return Err(E::UserParamsWithoutUserEntropy);
            }
            if input.has_encryption_params() {
                return Err(E::PasskeyWithEncryptionParams);
            }
        }
    }
    Ok(entropy)
}
