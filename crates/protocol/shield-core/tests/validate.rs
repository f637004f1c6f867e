//! The share validator: every message, first-failure-wins ordering and the absence rules
//! (docs/shield.md, "Design: shares on the wire" and "Design: transport").

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use shield_core::validate::{DEFAULT_REFERENCE, UnknownEntropy};
use shield_core::{
    Entropy, PasskeyEnv, PasskeyReference, ShareInput, StorageMethod, ValidationError as E,
    validate_share,
};
use zeroize::Zeroizing;

fn z(s: &str) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(s.to_owned()))
}

fn t(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn base(entropy: &str) -> ShareInput {
    ShareInput {
        secret: z("0xsecret"),
        entropy: t(entropy),
        ..ShareInput::default()
    }
}

fn user() -> ShareInput {
    ShareInput {
        salt: t("salt"),
        iterations: Some(1000),
        length: Some(32),
        digest: t("SHA-256"),
        ..base("user")
    }
}

fn project() -> ShareInput {
    ShareInput {
        encryption_part: z("AlFCf2ydjoOwqdrH9OUNABM6KVRHdmVom4KxrN/O/fDj"),
        ..base("project")
    }
}

fn passkey() -> ShareInput {
    ShareInput {
        reference: t("signer-1"),
        passkey_reference: Some(PasskeyReference {
            passkey_id: t("pk-1"),
            passkey_env: None,
        }),
        ..base("passkey")
    }
}

#[track_caller]
fn rejects(input: &ShareInput, want: E) {
    assert_eq!(validate_share(input), Err(want), "{input:?}");
}

/// Project and passkey shares live on Shield: storage methods 1 and 2 are refused before any
/// other rule of those entropies.
#[track_caller]
fn rejects_off_shield_storage(input: ShareInput, want: E) {
    for storage in [1, 2] {
        let off_shield = ShareInput {
            storage_method_id: Some(storage),
            ..input.clone()
        };
        rejects(&off_shield, want);
    }
}

#[test]
fn every_message_is_exact() {
    let expected = [
        "secret is required",
        "invalid storage method",
        "require share entropy to be set",
        "salt is required when entropy is user",
        "iterations is required when entropy is user",
        "length is required when entropy is user",
        "digest is required when entropy is user",
        "storage_method must be Shield if entropy is project",
        "if user entropy is not set, encryption parameters should not be set",
        "encryption_part or encryption_session is required when entropy is project",
        "storage_method must be Shield if entropy is passkey",
        "share needs a valid share reference if entropy is passkey",
        "passkey_reference must be set if entropy is passkey",
        "passkey_reference must contain passkey_id if entropy is passkey",
        "encryption parameters should not be set for passkey entropy",
        "invalid entropy",
    ];
    let got: Vec<&str> = E::ALL.iter().map(|e| e.message()).collect();
    assert_eq!(got, expected);
    for e in E::ALL {
        assert_eq!(e.to_string(), e.message());
    }
}

#[test]
fn valid_shares_pass() {
    assert_eq!(validate_share(&user()), Ok(Entropy::User));
    assert_eq!(validate_share(&project()), Ok(Entropy::Project));
    assert_eq!(validate_share(&passkey()), Ok(Entropy::Passkey));
    let session = ShareInput {
        encryption_part: None,
        encryption_session: t("3f1c…"),
        ..project()
    };
    assert_eq!(validate_share(&session), Ok(Entropy::Project));
    for storage in [Some(0), Some(1), Some(2), None] {
        let input = ShareInput {
            storage_method_id: storage,
            ..user()
        };
        assert_eq!(validate_share(&input), Ok(Entropy::User));
    }
}

#[test]
fn secret_is_required() {
    rejects(
        &ShareInput {
            secret: None,
            ..user()
        },
        E::SecretRequired,
    );
    rejects(
        &ShareInput {
            secret: z(""),
            ..user()
        },
        E::SecretRequired,
    );
    // First failure wins: everything else wrong too.
    rejects(
        &ShareInput {
            secret: None,
            storage_method_id: Some(9),
            entropy: t("bogus"),
            ..ShareInput::default()
        },
        E::SecretRequired,
    );
}

#[test]
fn invalid_storage_method() {
    for bad in [3, -1, 255, i64::MAX, i64::MIN] {
        rejects(
            &ShareInput {
                storage_method_id: Some(bad),
                ..user()
            },
            E::InvalidStorageMethod,
        );
    }
    // Checked before entropy, so it beats `invalid entropy` and `require share entropy`.
    rejects(
        &ShareInput {
            storage_method_id: Some(3),
            ..base("bogus")
        },
        E::InvalidStorageMethod,
    );
    rejects(
        &ShareInput {
            storage_method_id: Some(3),
            entropy: None,
            ..user()
        },
        E::InvalidStorageMethod,
    );
}

#[test]
fn entropy_absent_empty_or_none() {
    rejects(
        &ShareInput {
            entropy: None,
            ..user()
        },
        E::EntropyRequired,
    );
    rejects(&base(""), E::EntropyRequired);
    rejects(&base("none"), E::EntropyRequired);
}

#[test]
fn invalid_entropy() {
    for bad in ["bogus", "User", "PROJECT", " user", "passkey "] {
        rejects(&base(bad), E::InvalidEntropy);
    }
}

#[test]
fn user_entropy_rules_in_order() {
    rejects(
        &ShareInput {
            salt: None,
            iterations: None,
            ..user()
        },
        E::SaltRequired,
    );
    rejects(
        &ShareInput {
            salt: t(""),
            ..user()
        },
        E::SaltRequired,
    );
    rejects(
        &ShareInput {
            iterations: None,
            length: None,
            ..user()
        },
        E::IterationsRequired,
    );
    rejects(
        &ShareInput {
            iterations: Some(0),
            ..user()
        },
        E::IterationsRequired,
    );
    rejects(
        &ShareInput {
            length: Some(0),
            digest: None,
            ..user()
        },
        E::LengthRequired,
    );
    rejects(
        &ShareInput {
            digest: t(""),
            ..user()
        },
        E::DigestRequired,
    );
}

#[test]
fn user_entropy_ignores_encryption_and_passkey_fields() {
    let input = ShareInput {
        encryption_part: z("whatever"),
        encryption_session: t("whatever"),
        passkey_reference: Some(PasskeyReference::default()),
        storage_method_id: Some(1),
        ..user()
    };
    assert_eq!(validate_share(&input), Ok(Entropy::User));
}

#[test]
fn project_entropy_rules_in_order() {
    rejects_off_shield_storage(
        ShareInput {
            salt: t("salt"),
            encryption_part: None,
            ..project()
        },
        E::ProjectRequiresShield,
    );
    let with_param: [fn(ShareInput) -> ShareInput; 4] = [
        |i| ShareInput { salt: t("s"), ..i },
        |i| ShareInput {
            iterations: Some(1),
            ..i
        },
        |i| ShareInput {
            length: Some(-5),
            ..i
        },
        |i| ShareInput {
            digest: t("d"),
            ..i
        },
    ];
    for add in with_param {
        // Beats the missing-encryption rule.
        let input = add(ShareInput {
            encryption_part: None,
            ..project()
        });
        rejects(&input, E::UserParamsWithoutUserEntropy);
    }
    rejects(
        &ShareInput {
            encryption_part: None,
            ..project()
        },
        E::EncryptionRequired,
    );
    rejects(
        &ShareInput {
            encryption_part: z(""),
            encryption_session: t(""),
            ..project()
        },
        E::EncryptionRequired,
    );
    // docs/shield.md, "Design: transport": "" and 0 are absent, so they are not "user entropy parameters".
    let absent_params = ShareInput {
        salt: t(""),
        iterations: Some(0),
        length: Some(0),
        digest: t(""),
        storage_method_id: Some(0),
        ..project()
    };
    assert_eq!(validate_share(&absent_params), Ok(Entropy::Project));
}

#[test]
fn project_entropy_ignores_passkey_reference() {
    let input = ShareInput {
        passkey_reference: Some(PasskeyReference::default()),
        reference: t(DEFAULT_REFERENCE),
        ..project()
    };
    assert_eq!(validate_share(&input), Ok(Entropy::Project));
}

#[test]
fn passkey_entropy_rules_in_order() {
    rejects_off_shield_storage(
        ShareInput {
            reference: None,
            passkey_reference: None,
            ..passkey()
        },
        E::PasskeyRequiresShield,
    );
    for reference in [None, t(""), t("default")] {
        rejects(
            &ShareInput {
                reference,
                passkey_reference: None,
                ..passkey()
            },
            E::PasskeyShareReference,
        );
    }
    rejects(
        &ShareInput {
            passkey_reference: None,
            salt: t("s"),
            ..passkey()
        },
        E::PasskeyReferenceRequired,
    );
    for passkey_id in [None, t("")] {
        rejects(
            &ShareInput {
                passkey_reference: Some(PasskeyReference {
                    passkey_id,
                    passkey_env: Some(PasskeyEnv::new(Some("Chrome"), None, None, None)),
                }),
                salt: t("s"),
                ..passkey()
            },
            E::PasskeyIdRequired,
        );
    }
    rejects(
        &ShareInput {
            iterations: Some(10),
            encryption_part: z("part"),
            ..passkey()
        },
        E::UserParamsWithoutUserEntropy,
    );
    rejects(
        &ShareInput {
            encryption_part: z("part"),
            ..passkey()
        },
        E::PasskeyWithEncryptionParams,
    );
    rejects(
        &ShareInput {
            encryption_session: t("session"),
            ..passkey()
        },
        E::PasskeyWithEncryptionParams,
    );
}

#[test]
fn normalize_applies_absence_rules() {
    let input = ShareInput {
        secret: z(""),
        entropy: t(""),
        salt: t(""),
        iterations: Some(0),
        length: Some(0),
        digest: t(""),
        encryption_part: z(""),
        encryption_session: t(""),
        reference: t(""),
        storage_method_id: Some(0),
        passkey_reference: Some(PasskeyReference {
            passkey_id: t(""),
            passkey_env: None,
        }),
    }
    .normalize();
    assert!(input.secret.is_none() && input.entropy.is_none() && input.salt.is_none());
    assert!(input.iterations.is_none() && input.length.is_none() && input.digest.is_none());
    assert!(input.encryption_part.is_none() && input.encryption_session.is_none());
    assert!(input.reference.is_none() && input.storage_method_id.is_none());
    assert_eq!(input.passkey_reference, Some(PasskeyReference::default()));
    let kept = user().normalize();
    assert_eq!(validate_share(&kept), Ok(Entropy::User));
    assert_eq!(kept.iterations, Some(1000));
}

#[test]
fn debug_redacts_secrets() {
    let input = ShareInput {
        encryption_session: t("sess-123"),
        ..project()
    };
    let shown = format!("{input:?}");
    assert!(!shown.contains("0xsecret"));
    assert!(!shown.contains("AlFCf2yd"));
    assert!(!shown.contains("sess-123"));
    assert!(shown.contains("REDACTED"));
}

#[test]
fn entropy_and_storage_method_enums() {
    for e in Entropy::ALL {
        assert_eq!(Entropy::parse(e.as_str()), Some(e));
        assert_eq!(e.as_str().parse::<Entropy>(), Ok(e));
        assert_eq!(e.to_string(), e.as_str());
    }
    assert_eq!("nope".parse::<Entropy>(), Err(UnknownEntropy));
    let listed: Vec<(i64, &str)> = StorageMethod::ALL
        .iter()
        .map(|m| (m.id(), m.name()))
        .collect();
    assert_eq!(listed, [(0, "Shield"), (1, "Google Drive"), (2, "iCloud")]);
    for m in StorageMethod::ALL {
        assert_eq!(StorageMethod::from_id(m.id()), Some(m));
    }
    assert_eq!(StorageMethod::from_id(3), None);
    assert_eq!(user().storage_method(), Some(StorageMethod::Shield));
}

#[test]
fn passkey_env_unknown_and_stored_form() {
    let env = PasskeyEnv::new(Some("Chrome"), Some(""), None, Some("Desktop"));
    assert_eq!(env.os, "unknown");
    assert_eq!(env.os_version, "unknown");
    let stored = env.to_stored();
    assert_eq!(
        stored,
        "name=Chrome;os=unknown;osVersion=unknown;device=Desktop"
    );
    assert_eq!(PasskeyEnv::from_stored(&stored), env);
    assert_eq!(
        PasskeyEnv::from_stored(""),
        PasskeyEnv::new(None, None, None, None)
    );
}
