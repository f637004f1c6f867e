//! Signing policies (docs/guardian.md, "Design: signing policies"): the maintainer's JSON
//! document, parsed strictly ([`Policy::parse`]), and its evaluation against what a request is
//! about to sign ([`Intent`]), before any key is opened.
//!
//! This module is pure: it decides from the document and the intent alone. The rolling period
//! ([`Period`]) needs the user's recent signatures, which the service reads under a per-user
//! lock and hands to [`Period::admit`].
//!
//! A signing route builds one [`Intent`] from its parsed request and asks
//! [`Policy::evaluate`]; a refusal ([`Refusal`]) carries the rule's code
//! ([`Rule::code`], answered as a 403).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::address::Address;
use crate::eip712::TypedData;
use crate::int::MAX_SAFE_JSON_INTEGER;
use crate::tx::MAX_CHAIN_ID;
use crate::u256::U256;

/// Most entries a list of the document may hold.
pub const MAX_LIST: usize = 1000;
/// Longest string (a domain name, a primary type, the description), in bytes.
pub const MAX_TEXT: usize = 256;
/// Longest rolling period: 31 days.
pub const MAX_PERIOD_SECONDS: u64 = 31 * 24 * 3600;
/// Highest `period.max_count`: it bounds the events kept per user, which every signature reads.
pub const MAX_PERIOD_COUNT: u64 = 10_000;

/// The document's keys, level by level (the JSON Schema in docs/guardian-policy.schema.json
/// declares the same, and a test keeps them equal).
pub const KEYS: &[&str] = &[
    "description",
    "chain_ids",
    "transactions",
    "typed_data",
    "raw_digest",
    "personal_sign",
    "eip7702",
    "period",
];
pub const TRANSACTION_KEYS: &[&str] = &[
    "allowed",
    "to_allow",
    "to_deny",
    "contract_creation",
    "max_value",
];
pub const TYPED_DATA_KEYS: &[&str] = &["allowed", "domains", "primary_types"];
pub const DOMAIN_KEYS: &[&str] = &["name", "chain_id", "verifying_contract"];
pub const EIP7702_KEYS: &[&str] = &["allowed", "delegates"];
pub const PERIOD_KEYS: &[&str] = &["seconds", "max_count", "max_value"];

/// What a signing request is about to sign, as the policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// A raw 32-byte digest (`POST /guardian/sign`).
    Digest,
    /// An EIP-191 `personal_sign` message.
    PersonalMessage,
    /// EIP-712 typed data: its domain's `name`, `chainId` and `verifyingContract` when present
    /// in their usual forms (a string, an integer, an address), and its primary type.
    TypedData {
        name: Option<String>,
        chain_id: Option<U256>,
        verifying_contract: Option<Address>,
        primary_type: String,
    },
    /// A transaction of any type; `to: None` is a contract creation.
    Transaction {
        chain_id: u64,
        to: Option<Address>,
        value: U256,
    },
    /// An EIP-7702 authorization: `delegate`'s code may run as the account on `chain_id`
    /// (0: on every chain).
    Authorization { chain_id: U256, delegate: Address },
}

impl Intent {
    /// The intent of signing `typed`. Domain values in another form than the usual one (a
    /// custom `EIP712Domain`) are taken as absent: they never satisfy a rule that names them.
    pub fn typed_data(typed: &TypedData) -> Intent {
        let domain = typed.domain();
        Intent::TypedData {
            name: domain
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            chain_id: domain
                .get("chainId")
                .and_then(|v| crate::int::parse_u256(v).ok()),
            verifying_contract: domain
                .get("verifyingContract")
                .and_then(Value::as_str)
                .and_then(|a| Address::parse(a).ok()),
            primary_type: typed.primary_type().to_owned(),
        }
    }

    /// The native value the signature moves (a transaction's `value`; zero otherwise): what the
    /// value limits count.
    pub fn value(&self) -> U256 {
        match self {
            Intent::Transaction { value, .. } => *value,
            _ => U256::ZERO,
        }
    }
}

/// The rules a refusal can name (docs/guardian.md, "Design: signing policies").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    ChainNotAllowed,
    TransactionsDisabled,
    ContractCreationDisabled,
    RecipientDenied,
    RecipientNotAllowed,
    ValueExceeded,
    PeriodValueExceeded,
    PeriodCountExceeded,
    TypedDataDisabled,
    TypedDataDomain,
    TypedDataPrimaryType,
    RawDigestDisabled,
    PersonalSignDisabled,
    Eip7702Disabled,
    DelegateNotAllowed,
}

impl Rule {
    /// The error code of a refusal by this rule (answered with status 403).
    pub fn code(self) -> &'static str {
        match self {
            Rule::ChainNotAllowed => "POLICY_CHAIN_NOT_ALLOWED",
            Rule::TransactionsDisabled => "POLICY_TRANSACTIONS_DISABLED",
            Rule::ContractCreationDisabled => "POLICY_CONTRACT_CREATION_DISABLED",
            Rule::RecipientDenied => "POLICY_RECIPIENT_DENIED",
            Rule::RecipientNotAllowed => "POLICY_RECIPIENT_NOT_ALLOWED",
            Rule::ValueExceeded => "POLICY_VALUE_EXCEEDED",
            Rule::PeriodValueExceeded => "POLICY_PERIOD_VALUE_EXCEEDED",
            Rule::PeriodCountExceeded => "POLICY_PERIOD_COUNT_EXCEEDED",
            Rule::TypedDataDisabled => "POLICY_TYPED_DATA_DISABLED",
            Rule::TypedDataDomain => "POLICY_TYPED_DATA_DOMAIN",
            Rule::TypedDataPrimaryType => "POLICY_TYPED_DATA_PRIMARY_TYPE",
            Rule::RawDigestDisabled => "POLICY_RAW_DIGEST_DISABLED",
            Rule::PersonalSignDisabled => "POLICY_PERSONAL_SIGN_DISABLED",
            Rule::Eip7702Disabled => "POLICY_EIP7702_DISABLED",
            Rule::DelegateNotAllowed => "POLICY_DELEGATE_NOT_ALLOWED",
        }
    }

    /// Every rule, for the documentation's table and its test.
    pub const ALL: &[Rule] = &[
        Rule::ChainNotAllowed,
        Rule::TransactionsDisabled,
        Rule::ContractCreationDisabled,
        Rule::RecipientDenied,
        Rule::RecipientNotAllowed,
        Rule::ValueExceeded,
        Rule::PeriodValueExceeded,
        Rule::PeriodCountExceeded,
        Rule::TypedDataDisabled,
        Rule::TypedDataDomain,
        Rule::TypedDataPrimaryType,
        Rule::RawDigestDisabled,
        Rule::PersonalSignDisabled,
        Rule::Eip7702Disabled,
        Rule::DelegateNotAllowed,
    ];
}

/// A refusal: the rule and a message for the user (it names the request's value, never the
/// document's lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub message: String,
}

fn refuse(rule: Rule, message: impl Into<String>) -> Result<(), Refusal> {
    Err(Refusal {
        rule,
        message: message.into(),
    })
}

/// Why a document is not a policy: the field (as a path, e.g. `transactions.to_allow[2]`) and
/// what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn bad(path: &str, what: impl std::fmt::Display) -> PolicyError {
    PolicyError(format!("{path} {what}"))
}

/// Rules for transactions (absent fields restrict nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionRules {
    pub allowed: bool,
    /// `None`: any recipient (the deny list still applies).
    pub to_allow: Option<BTreeSet<Address>>,
    pub to_deny: BTreeSet<Address>,
    pub contract_creation: bool,
    pub max_value: Option<U256>,
}

/// One allowed EIP-712 domain: every field given must equal the request's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub name: Option<String>,
    pub chain_id: Option<u64>,
    pub verifying_contract: Option<Address>,
}

/// Rules for EIP-712 typed data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedDataRules {
    pub allowed: bool,
    /// `None`: any domain.
    pub domains: Option<Vec<Domain>>,
    /// `None`: any primary type.
    pub primary_types: Option<BTreeSet<String>>,
}

/// Rules for EIP-7702 authorizations: refused unless `allowed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationRules {
    pub allowed: bool,
    /// `None`: any delegate (once allowed).
    pub delegates: Option<BTreeSet<Address>>,
}

/// The rolling period: at most `max_count` signatures, and at most `max_value` wei moved by
/// transactions, per user in any `seconds` long window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub seconds: u64,
    pub max_count: u64,
    pub max_value: Option<U256>,
}

/// A parsed, valid policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub description: Option<String>,
    /// `None`: any chain.
    pub chain_ids: Option<BTreeSet<u64>>,
    pub transactions: TransactionRules,
    pub typed_data: TypedDataRules,
    pub raw_digest: bool,
    pub personal_sign: bool,
    pub eip7702: DelegationRules,
    pub period: Option<Period>,
}

// ---- parsing ----

fn object<'a>(path: &str, v: &'a Value) -> Result<&'a Map<String, Value>, PolicyError> {
    v.as_object()
        .ok_or_else(|| bad(path, "must be a JSON object"))
}

fn check_keys(path: &str, obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), PolicyError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => {
            let k: String = k.chars().take(64).collect();
            let at = if path.is_empty() {
                k
            } else {
                format!("{path}.{k}")
            };
            Err(PolicyError(format!(
                "unknown field {at:?} (allowed: {})",
                allowed.join(", ")
            )))
        }
        None => Ok(()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A field that is absent or `null` is `None`.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn boolean(path: &str, v: Option<&Value>, default: bool) -> Result<bool, PolicyError> {
    match v {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(path, "must be true or false")),
    }
}

fn list<'a>(path: &str, v: &'a Value) -> Result<&'a Vec<Value>, PolicyError> {
    let items = v.as_array().ok_or_else(|| bad(path, "must be an array"))?;
    if items.len() > MAX_LIST {
        return Err(bad(path, format!("must have at most {MAX_LIST} entries")));
    }
    Ok(items)
}

fn text(path: &str, v: &Value) -> Result<String, PolicyError> {
    let s = v.as_str().ok_or_else(|| bad(path, "must be a string"))?;
    if s.len() > MAX_TEXT {
        return Err(bad(path, format!("must be at most {MAX_TEXT} bytes")));
    }
    Ok(s.to_owned())
}

fn address(path: &str, v: &Value) -> Result<Address, PolicyError> {
    let s = v
        .as_str()
        .ok_or_else(|| bad(path, "must be an address string (0x and 40 hex digits)"))?;
    Address::parse(s).map_err(|e| bad(path, e))
}

fn addresses(path: &str, v: &Value) -> Result<BTreeSet<Address>, PolicyError> {
    list(path, v)?
        .iter()
        .enumerate()
        .map(|(i, a)| address(&format!("{path}[{i}]"), a))
        .collect()
}

/// A canonical decimal string (no sign, no leading zero).
fn decimal(s: &str) -> Option<U256> {
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    U256::from_dec_digits(s)
}

/// A wei amount: a decimal string (JSON numbers lose precision above 2^53 in many clients).
fn wei(path: &str, v: &Value) -> Result<U256, PolicyError> {
    let s = v.as_str().ok_or_else(|| {
        bad(
            path,
            "must be a decimal string of wei (e.g. \"1000000000000000000\")",
        )
    })?;
    decimal(s).ok_or_else(|| {
        bad(
            path,
            "must be a decimal string of wei without leading zeros, at most 2^256-1",
        )
    })
}

/// A positive integer up to `max`: a JSON number up to 2^53−1 or a decimal string.
fn integer(path: &str, v: &Value, max: u64) -> Result<u64, PolicyError> {
    let n = match v {
        Value::Number(n) => n
            .as_u64()
            .filter(|n| *n <= MAX_SAFE_JSON_INTEGER)
            .ok_or_else(|| bad(path, format!("must be an integer 1..={max}")))?,
        Value::String(s) => decimal(s)
            .and_then(|u| u.to_u64())
            .ok_or_else(|| bad(path, format!("must be an integer 1..={max}")))?,
        _ => {
            return Err(bad(
                path,
                format!("must be an integer 1..={max} (a JSON number or a decimal string)"),
            ));
        }
    };
    if n == 0 || n > max {
        return Err(bad(path, format!("must be an integer 1..={max}")));
    }
    Ok(n)
}

fn chain_id(path: &str, v: &Value) -> Result<u64, PolicyError> {
    integer(path, v, MAX_CHAIN_ID)
}

/// A chain id as the document shows it: a number when JSON carries it exactly.
fn chain_json(id: u64) -> Value {
    if id <= MAX_SAFE_JSON_INTEGER {
        json!(id)
    } else {
        json!(id.to_string())
    }
}

fn addresses_json(set: &BTreeSet<Address>) -> Value {
    set.iter().map(|a| json!(a.to_checksum())).collect()
}

impl Policy {
    /// Parses a policy document strictly: unknown fields, wrong types, bad addresses and
    /// out-of-range numbers are errors naming the field. Absent (or `null`) fields restrict
    /// nothing, except EIP-7702 authorizations, which a document refuses unless
    /// `eip7702.allowed` is true.
    pub fn parse(doc: &Value) -> Result<Policy, PolicyError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| PolicyError("a policy must be a JSON object".into()))?;
        check_keys("", obj, KEYS)?;
        let description = field(obj, "description")
            .map(|v| text("description", v))
            .transpose()?;
        let chain_ids = field(obj, "chain_ids")
            .map(|v| {
                list("chain_ids", v)?
                    .iter()
                    .enumerate()
                    .map(|(i, c)| chain_id(&format!("chain_ids[{i}]"), c))
                    .collect::<Result<BTreeSet<u64>, _>>()
            })
            .transpose()?;
        let transactions = Self::parse_transactions(field(obj, "transactions"))?;
        let typed_data = Self::parse_typed_data(field(obj, "typed_data"))?;
        let eip7702 = match field(obj, "eip7702") {
            None => DelegationRules {
                allowed: false,
                delegates: None,
            },
            Some(v) => {
                let o = object("eip7702", v)?;
                check_keys("eip7702", o, EIP7702_KEYS)?;
                DelegationRules {
                    allowed: boolean("eip7702.allowed", field(o, "allowed"), false)?,
                    delegates: field(o, "delegates")
                        .map(|v| addresses("eip7702.delegates", v))
                        .transpose()?,
                }
            }
        };
        let period = match field(obj, "period") {
            None => None,
            Some(v) => {
                let o = object("period", v)?;
                check_keys("period", o, PERIOD_KEYS)?;
                let seconds = field(o, "seconds")
                    .ok_or_else(|| bad("period.seconds", "is required (the window, in seconds)"))?;
                let max_count = field(o, "max_count").ok_or_else(|| {
                    bad(
                        "period.max_count",
                        "is required (the most signatures in the window)",
                    )
                })?;
                Some(Period {
                    seconds: integer("period.seconds", seconds, MAX_PERIOD_SECONDS)?,
                    max_count: integer("period.max_count", max_count, MAX_PERIOD_COUNT)?,
                    max_value: field(o, "max_value")
                        .map(|v| wei("period.max_value", v))
                        .transpose()?,
                })
            }
        };
        Ok(Policy {
            description,
            chain_ids,
            transactions,
            typed_data,
            raw_digest: boolean("raw_digest", field(obj, "raw_digest"), true)?,
            personal_sign: boolean("personal_sign", field(obj, "personal_sign"), true)?,
            eip7702,
            period,
        })
    }

    fn parse_transactions(v: Option<&Value>) -> Result<TransactionRules, PolicyError> {
        let Some(v) = v else {
            return Ok(TransactionRules {
                allowed: true,
                to_allow: None,
                to_deny: BTreeSet::new(),
                contract_creation: true,
                max_value: None,
            });
        };
        let p = "transactions";
        let o = object(p, v)?;
        check_keys(p, o, TRANSACTION_KEYS)?;
        Ok(TransactionRules {
            allowed: boolean(&join(p, "allowed"), field(o, "allowed"), true)?,
            to_allow: field(o, "to_allow")
                .map(|v| addresses(&join(p, "to_allow"), v))
                .transpose()?,
            to_deny: field(o, "to_deny")
                .map(|v| addresses(&join(p, "to_deny"), v))
                .transpose()?
                .unwrap_or_default(),
            contract_creation: boolean(
                &join(p, "contract_creation"),
                field(o, "contract_creation"),
                true,
            )?,
            max_value: field(o, "max_value")
                .map(|v| wei(&join(p, "max_value"), v))
                .transpose()?,
        })
    }

    fn parse_typed_data(v: Option<&Value>) -> Result<TypedDataRules, PolicyError> {
        let Some(v) = v else {
            return Ok(TypedDataRules {
                allowed: true,
                domains: None,
                primary_types: None,
            });
        };
        let p = "typed_data";
        let o = object(p, v)?;
        check_keys(p, o, TYPED_DATA_KEYS)?;
        let domains = field(o, "domains")
            .map(|v| {
                list("typed_data.domains", v)?
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let at = format!("typed_data.domains[{i}]");
                        let d = object(&at, d)?;
                        check_keys(&at, d, DOMAIN_KEYS)?;
                        let domain = Domain {
                            name: field(d, "name")
                                .map(|v| text(&join(&at, "name"), v))
                                .transpose()?,
                            chain_id: field(d, "chain_id")
                                .map(|v| chain_id(&join(&at, "chain_id"), v))
                                .transpose()?,
                            verifying_contract: field(d, "verifying_contract")
                                .map(|v| address(&join(&at, "verifying_contract"), v))
                                .transpose()?,
                        };
                        if domain.name.is_none()
                            && domain.chain_id.is_none()
                            && domain.verifying_contract.is_none()
                        {
                            return Err(bad(
                                &at,
                                "must name at least one of name, chain_id, verifying_contract",
                            ));
                        }
                        Ok(domain)
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let primary_types = field(o, "primary_types")
            .map(|v| {
                list("typed_data.primary_types", v)?
                    .iter()
                    .enumerate()
                    .map(|(i, t)| text(&format!("typed_data.primary_types[{i}]"), t))
                    .collect::<Result<BTreeSet<_>, _>>()
            })
            .transpose()?;
        Ok(TypedDataRules {
            allowed: boolean("typed_data.allowed", field(o, "allowed"), true)?,
            domains,
            primary_types,
        })
    }

    /// The document in its normal form: every rule spelled out with its value in force
    /// (defaults included), addresses in EIP-55, lists sorted and without repeats, wei as
    /// decimal strings. [`Policy::parse`] of it gives the same policy.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        if let Some(d) = &self.description {
            doc.insert("description".into(), json!(d));
        }
        if let Some(ids) = &self.chain_ids {
            doc.insert(
                "chain_ids".into(),
                ids.iter().map(|c| chain_json(*c)).collect(),
            );
        }
        let t = &self.transactions;
        let mut tx = Map::new();
        tx.insert("allowed".into(), json!(t.allowed));
        if let Some(allow) = &t.to_allow {
            tx.insert("to_allow".into(), addresses_json(allow));
        }
        tx.insert("to_deny".into(), addresses_json(&t.to_deny));
        tx.insert("contract_creation".into(), json!(t.contract_creation));
        if let Some(max) = &t.max_value {
            tx.insert("max_value".into(), json!(max.to_dec_string()));
        }
        doc.insert("transactions".into(), Value::Object(tx));
        let td = &self.typed_data;
        let mut typed = Map::new();
        typed.insert("allowed".into(), json!(td.allowed));
        if let Some(domains) = &td.domains {
            let list = domains
                .iter()
                .map(|d| {
                    let mut o = Map::new();
                    if let Some(n) = &d.name {
                        o.insert("name".into(), json!(n));
                    }
                    if let Some(c) = d.chain_id {
                        o.insert("chain_id".into(), chain_json(c));
                    }
                    if let Some(a) = &d.verifying_contract {
                        o.insert("verifying_contract".into(), json!(a.to_checksum()));
                    }
                    Value::Object(o)
                })
                .collect();
            typed.insert("domains".into(), list);
        }
        if let Some(types) = &td.primary_types {
            typed.insert("primary_types".into(), json!(types));
        }
        doc.insert("typed_data".into(), Value::Object(typed));
        doc.insert("raw_digest".into(), json!(self.raw_digest));
        doc.insert("personal_sign".into(), json!(self.personal_sign));
        let mut delegation = Map::new();
        delegation.insert("allowed".into(), json!(self.eip7702.allowed));
        if let Some(d) = &self.eip7702.delegates {
            delegation.insert("delegates".into(), addresses_json(d));
        }
        doc.insert("eip7702".into(), Value::Object(delegation));
        if let Some(p) = &self.period {
            let mut period = Map::new();
            period.insert("seconds".into(), json!(p.seconds));
            period.insert("max_count".into(), json!(p.max_count));
            if let Some(max) = &p.max_value {
                period.insert("max_value".into(), json!(max.to_dec_string()));
            }
            doc.insert("period".into(), Value::Object(period));
        }
        Value::Object(doc)
    }

    fn check_chain(&self, chain: &U256) -> Result<(), Refusal> {
        let Some(ids) = &self.chain_ids else {
            return Ok(());
        };
        if chain.to_u64().is_some_and(|c| ids.contains(&c)) {
            return Ok(());
        }
        if chain.is_zero() {
            return refuse(
                Rule::ChainNotAllowed,
                "the signing policy does not allow an authorization for every chain (chain_id 0)",
            );
        }
        refuse(
            Rule::ChainNotAllowed,
            format!("the signing policy does not allow chain {chain}"),
        )
    }

    /// Whether the policy allows signing `intent`, leaving out the rolling period (which needs
    /// the user's history: [`Period::admit`]). Chains first, then the intent's own rules.
    pub fn evaluate(&self, intent: &Intent) -> Result<(), Refusal> {
        match intent {
            Intent::Digest => {
                if !self.raw_digest {
                    return refuse(
                        Rule::RawDigestDisabled,
                        "the signing policy does not allow signing raw digests; sign the \
                         transaction, message or typed data itself",
                    );
                }
                Ok(())
            }
            Intent::PersonalMessage => {
                if !self.personal_sign {
                    return refuse(
                        Rule::PersonalSignDisabled,
                        "the signing policy does not allow personal_sign messages",
                    );
                }
                Ok(())
            }
            Intent::TypedData {
                name,
                chain_id,
                verifying_contract,
                primary_type,
            } => {
                let rules = &self.typed_data;
                if !rules.allowed {
                    return refuse(
                        Rule::TypedDataDisabled,
                        "the signing policy does not allow signing typed data",
                    );
                }
                if let Some(chain) = chain_id {
                    self.check_chain(chain)?;
                }
                if let Some(domains) = &rules.domains {
                    let matches = |d: &Domain| {
                        d.name.as_ref().is_none_or(|n| name.as_ref() == Some(n))
                            && d.chain_id
                                .is_none_or(|c| chain_id.as_ref() == Some(&U256::from_u64(c)))
                            && d.verifying_contract
                                .is_none_or(|a| verifying_contract.as_ref() == Some(&a))
                    };
                    if !domains.iter().any(matches) {
                        return refuse(
                            Rule::TypedDataDomain,
                            "the signing policy does not allow this typed data's domain \
                             (name, chainId, verifyingContract)",
                        );
                    }
                }
                if let Some(types) = &rules.primary_types
                    && !types.contains(primary_type)
                {
                    let shown: String = primary_type.chars().take(64).collect();
                    return refuse(
                        Rule::TypedDataPrimaryType,
                        format!("the signing policy does not allow the primary type {shown:?}"),
                    );
                }
                Ok(())
            }
            Intent::Transaction {
                chain_id,
                to,
                value,
            } => {
                self.check_chain(&U256::from_u64(*chain_id))?;
                let rules = &self.transactions;
                if !rules.allowed {
                    return refuse(
                        Rule::TransactionsDisabled,
                        "the signing policy does not allow signing transactions",
                    );
                }
                match to {
                    None => {
                        if !rules.contract_creation {
                            return refuse(
                                Rule::ContractCreationDisabled,
                                "the signing policy does not allow contract creation (a \
                                 transaction without \"to\")",
                            );
                        }
                    }
                    Some(to) => {
                        if rules.to_deny.contains(to) {
                            return refuse(
                                Rule::RecipientDenied,
                                format!("the signing policy denies the recipient {to}"),
                            );
                        }
                        if let Some(allow) = &rules.to_allow
                            && !allow.contains(to)
                        {
                            return refuse(
                                Rule::RecipientNotAllowed,
                                format!("the signing policy does not allow the recipient {to}"),
                            );
                        }
                    }
                }
                if let Some(max) = &rules.max_value
                    && value > max
                {
                    return refuse(
                        Rule::ValueExceeded,
                        format!(
                            "the value {value} wei is over the signing policy's limit per \
                             transaction"
                        ),
                    );
                }
                Ok(())
            }
            Intent::Authorization { chain_id, delegate } => {
                if !self.eip7702.allowed {
                    return refuse(
                        Rule::Eip7702Disabled,
                        "the signing policy does not allow EIP-7702 authorizations",
                    );
                }
                self.check_chain(chain_id)?;
                if let Some(delegates) = &self.eip7702.delegates
                    && !delegates.contains(delegate)
                {
                    return refuse(
                        Rule::DelegateNotAllowed,
                        format!("the signing policy does not allow delegating to {delegate}"),
                    );
                }
                Ok(())
            }
        }
    }
}

/// `a + b`, or `None` past 2^256 − 1.
pub fn checked_add(a: &U256, b: &U256) -> Option<U256> {
    let (x, y) = (a.to_be_bytes(), b.to_be_bytes());
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for ((o, p), q) in out.iter_mut().rev().zip(x.iter().rev()).zip(y.iter().rev()) {
        let v = u16::from(*p) + u16::from(*q) + carry;
        *o = (v & 0xff) as u8;
        carry = v >> 8;
    }
    (carry == 0).then_some(U256::from_be_bytes(out))
}

impl Period {
    /// The window in milliseconds.
    pub fn window_ms(&self) -> i64 {
        // seconds ≤ MAX_PERIOD_SECONDS, so this cannot overflow.
        i64::try_from(self.seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Whether one more signature moving `value` fits, given the values of the user's
    /// signatures inside the window (`history`).
    pub fn admit<'a>(
        &self,
        history: impl IntoIterator<Item = &'a U256>,
        value: &U256,
    ) -> Result<(), Refusal> {
        let mut count: u64 = 0;
        let mut total = U256::ZERO;
        for v in history {
            count = count.saturating_add(1);
            total = checked_add(&total, v).unwrap_or(U256::MAX);
        }
        if count >= self.max_count {
            return refuse(
                Rule::PeriodCountExceeded,
                format!(
                    "the signing policy allows {} signatures per {} seconds, and they are used; \
                     try again later",
                    self.max_count, self.seconds
                ),
            );
        }
        if let Some(max) = &self.max_value
            && checked_add(&total, value).is_none_or(|t| t > *max)
        {
            return refuse(
                Rule::PeriodValueExceeded,
                format!(
                    "the value {value} wei would take this account over the signing policy's \
                     limit per {} seconds",
                    self.seconds
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::restriction)]

    use super::*;

    const A: &str = "0x1111111111111111111111111111111111111111";
    const B: &str = "0x2222222222222222222222222222222222222222";

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn policy(v: Value) -> Policy {
        Policy::parse(&v).unwrap()
    }

    fn err(v: Value) -> String {
        Policy::parse(&v).unwrap_err().0
    }

    fn tx(chain_id: u64, to: Option<&str>, value: u64) -> Intent {
        Intent::Transaction {
            chain_id,
            to: to.map(addr),
            value: U256::from_u64(value),
        }
    }

    fn rule(p: &Policy, i: &Intent) -> Option<&'static str> {
        p.evaluate(i).err().map(|r| r.rule.code())
    }

    #[test]
    fn empty_document_allows_all_but_delegation() {
        let p = policy(json!({}));
        for i in [
            Intent::Digest,
            Intent::PersonalMessage,
            tx(1, Some(A), 10),
            tx(5, None, 0),
        ] {
            assert_eq!(rule(&p, &i), None, "{i:?}");
        }
        let auth = Intent::Authorization {
            chain_id: U256::from_u64(1),
            delegate: addr(A),
        };
        assert_eq!(rule(&p, &auth), Some("POLICY_EIP7702_DISABLED"));
        assert_eq!(p.period, None);
    }

    #[test]
    fn each_rule_refuses_with_its_code() {
        let p = policy(json!({
            "chain_ids": [1, "8453"],
            "transactions": {"to_allow": [A, B], "to_deny": [B], "contract_creation": false,
                             "max_value": "100"},
            "typed_data": {"domains": [{"name": "Game", "chain_id": 8453}],
                           "primary_types": ["Move"]},
            "raw_digest": false,
            "personal_sign": false,
            "eip7702": {"allowed": true, "delegates": [A]},
        }));
        assert_eq!(
            rule(&p, &Intent::Digest),
            Some("POLICY_RAW_DIGEST_DISABLED")
        );
        assert_eq!(
            rule(&p, &Intent::PersonalMessage),
            Some("POLICY_PERSONAL_SIGN_DISABLED")
        );
        assert_eq!(rule(&p, &tx(1, Some(A), 100)), None);
        assert_eq!(rule(&p, &tx(8453, Some(A), 0)), None);
        assert_eq!(
            rule(&p, &tx(5, Some(A), 1)),
            Some("POLICY_CHAIN_NOT_ALLOWED")
        );
        assert_eq!(
            rule(&p, &tx(1, Some(B), 1)),
            Some("POLICY_RECIPIENT_DENIED")
        );
        let c = "0x3333333333333333333333333333333333333333";
        assert_eq!(
            rule(&p, &tx(1, Some(c), 1)),
            Some("POLICY_RECIPIENT_NOT_ALLOWED")
        );
        assert_eq!(
            rule(&p, &tx(1, None, 0)),
            Some("POLICY_CONTRACT_CREATION_DISABLED")
        );
        assert_eq!(
            rule(&p, &tx(1, Some(A), 101)),
            Some("POLICY_VALUE_EXCEEDED")
        );
        let typed = |name: &str, chain: u64, primary: &str| Intent::TypedData {
            name: Some(name.into()),
            chain_id: Some(U256::from_u64(chain)),
            verifying_contract: None,
            primary_type: primary.into(),
        };
        assert_eq!(rule(&p, &typed("Game", 8453, "Move")), None);
        assert_eq!(
            rule(&p, &typed("Other", 8453, "Move")),
            Some("POLICY_TYPED_DATA_DOMAIN")
        );
        assert_eq!(
            rule(&p, &typed("Game", 1, "Move")),
            Some("POLICY_TYPED_DATA_DOMAIN")
        );
        assert_eq!(
            rule(&p, &typed("Game", 5, "Move")),
            Some("POLICY_CHAIN_NOT_ALLOWED")
        );
        assert_eq!(
            rule(&p, &typed("Game", 8453, "Permit")),
            Some("POLICY_TYPED_DATA_PRIMARY_TYPE")
        );
        let no_chain = Intent::TypedData {
            name: Some("Game".into()),
            chain_id: None,
            verifying_contract: None,
            primary_type: "Move".into(),
        };
        // The domain names a chain, so a domain without one does not match it.
        assert_eq!(rule(&p, &no_chain), Some("POLICY_TYPED_DATA_DOMAIN"));
        let auth = |chain: u64, d: &str| Intent::Authorization {
            chain_id: U256::from_u64(chain),
            delegate: addr(d),
        };
        assert_eq!(rule(&p, &auth(1, A)), None);
        assert_eq!(rule(&p, &auth(1, B)), Some("POLICY_DELEGATE_NOT_ALLOWED"));
        assert_eq!(rule(&p, &auth(0, A)), Some("POLICY_CHAIN_NOT_ALLOWED"));
        assert_eq!(rule(&p, &auth(7, A)), Some("POLICY_CHAIN_NOT_ALLOWED"));

        let off = policy(json!({"transactions": {"allowed": false},
                                 "typed_data": {"allowed": false}}));
        assert_eq!(
            rule(&off, &tx(1, Some(A), 0)),
            Some("POLICY_TRANSACTIONS_DISABLED")
        );
        assert_eq!(
            rule(&off, &typed("Game", 1, "Move")),
            Some("POLICY_TYPED_DATA_DISABLED")
        );
        // Without a chain list, an authorization for every chain is allowed once 7702 is.
        let any = policy(json!({"eip7702": {"allowed": true}}));
        assert_eq!(rule(&any, &auth(0, B)), None);
    }

    #[test]
    fn the_period_counts_signatures_and_value() {
        let p = policy(json!({"period": {"seconds": 3600, "max_count": 3, "max_value": "10"}}));
        let period = p.period.clone().unwrap();
        assert_eq!(period.window_ms(), 3_600_000);
        let v = |n: u64| U256::from_u64(n);
        assert_eq!(period.admit(&[v(4), v(5)], &v(1)), Ok(()));
        assert_eq!(
            period.admit(&[v(4), v(5)], &v(2)).unwrap_err().rule,
            Rule::PeriodValueExceeded
        );
        assert_eq!(
            period.admit(&[v(0), v(0), v(0)], &v(0)).unwrap_err().rule,
            Rule::PeriodCountExceeded
        );
        // Sums past 2^256 do not wrap around.
        let big = policy(json!({"period": {"seconds": 1, "max_count": 10,
                                            "max_value": U256::MAX.to_dec_string()}}))
        .period
        .unwrap();
        assert_eq!(
            big.admit(&[U256::MAX], &v(1)).unwrap_err().rule,
            Rule::PeriodValueExceeded
        );
        assert_eq!(big.admit(&[U256::MAX], &v(0)), Ok(()));
        assert_eq!(checked_add(&v(255), &v(1)), Some(v(256)));
    }

    #[test]
    fn strict_parsing_names_the_field() {
        let cases = [
            (json!([]), "a policy must be a JSON object"),
            (json!({"chain_id": [1]}), "unknown field \"chain_id\""),
            (
                json!({"transactions": {"to": []}}),
                "unknown field \"transactions.to\"",
            ),
            (json!({"chain_ids": 1}), "chain_ids must be an array"),
            (json!({"chain_ids": [0]}), "chain_ids[0] must be an integer"),
            (
                json!({"chain_ids": ["01"]}),
                "chain_ids[0] must be an integer",
            ),
            (
                json!({"chain_ids": [1.5]}),
                "chain_ids[0] must be an integer",
            ),
            (
                json!({"raw_digest": "no"}),
                "raw_digest must be true or false",
            ),
            (
                json!({"transactions": {"to_allow": [A, "0x12"]}}),
                "transactions.to_allow[1] must be 40 hex digits",
            ),
            (
                json!({"transactions": {"to_deny": ["0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"]}}),
                "transactions.to_deny[0] has mixed case",
            ),
            (
                json!({"transactions": {"max_value": 100}}),
                "transactions.max_value must be a decimal string",
            ),
            (
                json!({"transactions": {"max_value": "0x10"}}),
                "transactions.max_value must be a decimal string",
            ),
            (
                json!({"typed_data": {"domains": [{}]}}),
                "typed_data.domains[0] must name at least one",
            ),
            (
                json!({"typed_data": {"domains": [{"verifyingContract": A}]}}),
                "unknown field \"typed_data.domains[0].verifyingContract\"",
            ),
            (
                json!({"period": {"seconds": 60}}),
                "period.max_count is required",
            ),
            (
                json!({"period": {"seconds": 0, "max_count": 1}}),
                "period.seconds must be an integer 1..=2678400",
            ),
            (
                json!({"period": {"seconds": 60, "max_count": 10001}}),
                "period.max_count must be an integer 1..=10000",
            ),
            (
                json!({"eip7702": {"allowed": 1}}),
                "eip7702.allowed must be true or false",
            ),
        ];
        for (doc, want) in cases {
            let got = err(doc.clone());
            assert!(got.starts_with(want), "{doc}: {got}");
        }
    }

    #[test]
    fn the_normal_form_parses_to_the_same_policy() {
        let p = policy(json!({
            "description": "treasury",
            "chain_ids": [1, 1],
            "transactions": {"to_allow": [B, A.to_uppercase().replace("0X", "0x")]},
            "typed_data": {"domains": [{"verifying_contract": A}], "primary_types": ["Permit"]},
            "eip7702": {"allowed": true},
            "period": {"seconds": "86400", "max_count": 5, "max_value": "7"},
        }));
        let normal = p.to_json();
        assert_eq!(normal["chain_ids"], json!([1]));
        assert_eq!(normal["transactions"]["to_allow"], json!([A, B]));
        assert_eq!(normal["eip7702"], json!({"allowed": true}));
        assert_eq!(normal["period"]["seconds"], json!(86400));
        assert_eq!(Policy::parse(&normal).unwrap(), p);
        let empty = policy(json!({}));
        assert_eq!(Policy::parse(&empty.to_json()).unwrap(), empty);
    }
}
