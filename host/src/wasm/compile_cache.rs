//! The compiled-component cache: native code that wasmtime loads without re-checking it.
//!
//! Deserializing a compiled component is as good as running its code, so whoever can write an
//! entry controls the host. Three rules keep the cache the host's own (docs/OPERATIONS.md,
//! "Compiled-component cache"):
//! - the directory must belong to the host's user and be writable by nobody else; the host
//!   creates it mode 0700 and refuses to start on one that fails the check;
//! - every entry carries an HMAC-SHA256 over its name and bytes under a per-installation key
//!   kept outside the cache (mode 0600); an entry that does not verify is never deserialized,
//!   only recompiled and rewritten;
//! - entry names carry the key's id, so hosts with different keys sharing one directory keep
//!   separate entries instead of overwriting each other's.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 32;
/// Entry layout: MAGIC, then the tag, then the serialized component.
const MAGIC: &[u8; 8] = b"KWCC\x00\x00\x00\x01";

pub struct CompileCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    key_id: String,
}

impl CompileCache {
    /// Opens (creating) `dir` and the MAC key at `key_file`, refusing either if another user
    /// could write it.
    pub fn open(dir: &Path, key_file: &Path) -> Result<Self> {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| {
                    format!(
                        "cannot create compiled-component cache directory {}",
                        dir.display()
                    )
                })?;
        }
        check_private(dir, 0o022, "compiled-component cache directory", "700")?;
        let key = load_or_create_key(key_file)?;
        let key_id = hex::encode(Sha256::digest(key).get(..6).unwrap_or_default());
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            key,
            key_id,
        })
    }

    /// Compiles `wasm_path`, or loads the verified result of an earlier compilation.
    ///
    /// The entry name covers the wasm bytes and everything about the engine that affects the
    /// machine code, so a changed component or engine configuration never loads stale code.
    pub fn load(&self, engine: &Engine, wasm_path: &Path) -> Result<Component> {
        let bytes = fs::read(wasm_path)
            .with_context(|| format!("cannot read component {}", wasm_path.display()))?;
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let mut name = Sha256::new();
        name.update(&bytes);
        name.update(engine_hash.finish().to_le_bytes());
        name.update(env!("CARGO_PKG_VERSION").as_bytes());
        let name = format!("{}-{}.cwasm", hex::encode(name.finalize()), self.key_id);
        let path = self.dir.join(&name);

        if let Ok(entry) = fs::read(&path) {
            match self.verified(&name, &entry) {
                Some(serialized) => {
                    // SAFETY: these bytes carry a valid MAC under this installation's key,
                    // which only a host of this installation holds: they are what such a host
                    // wrote with `Component::serialize` for this exact engine configuration
                    // (the name covers it), and wasmtime re-checks the compatibility header.
                    match unsafe { Component::deserialize(engine, serialized) } {
                        Ok(component) => return Ok(component),
                        Err(e) => tracing::warn!(
                            "ignoring unusable compiled-component cache entry {}: {e:#}",
                            path.display()
                        ),
                    }
                }
                None => tracing::warn!(
                    "compiled-component cache entry {} failed its integrity check; recompiling",
                    path.display()
                ),
            }
        }
        let component = Component::new(engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot compile component {}", wasm_path.display()))?;
        if let Err(e) = self.write(&path, &name, &component) {
            tracing::warn!(
                "cannot write compiled-component cache {}: {e:#}",
                path.display()
            );
        }
        Ok(component)
    }

    fn mac(&self, name: &str) -> Result<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.key).context("cache key")?;
        // The name is bound in, so a valid entry cannot be renamed to stand for another wasm.
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name.as_bytes());
        Ok(mac)
    }

    fn verified<'a>(&self, name: &str, entry: &'a [u8]) -> Option<&'a [u8]> {
        let rest = entry.strip_prefix(MAGIC.as_slice())?;
        let (tag, serialized) = rest.split_at_checked(TAG_LEN)?;
        let mut mac = self.mac(name).ok()?;
        mac.update(serialized);
        mac.verify_slice(tag).ok()?;
        Some(serialized)
    }

    fn write(&self, path: &Path, name: &str, component: &Component) -> Result<()> {
        let serialized = component.serialize()?;
        let mut mac = self.mac(name)?;
        mac.update(&serialized);
        let tag = mac.finalize().into_bytes();
        let tmp = write_private_beside(path, &[MAGIC, &tag, &serialized])?;
        fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// Writes `parts` to a new mode-0600 file next to `path` (this process's own temporary name),
/// synced, and returns its name: the caller moves it into place atomically.
fn write_private_beside(path: &Path, parts: &[&[u8]]) -> Result<PathBuf> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    for part in parts {
        f.write_all(part)?;
    }
    f.sync_all()?;
    Ok(tmp)
}

/// Refuses `path` unless it belongs to this process's user and none of `forbidden_mode` bits
/// are set; `fix` is the mode the message suggests.
fn check_private(path: &Path, forbidden_mode: u32, what: &str, fix: &str) -> Result<()> {
    let meta =
        fs::metadata(path).with_context(|| format!("cannot inspect {what} {}", path.display()))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "{what} {} belongs to user id {}, not to the user running keyward ({me}): whoever owns it could run code in the host. Use a directory of your own (--cache-dir / --cache-key-file) or `chown` it",
            path.display(),
            meta.uid()
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & forbidden_mode != 0 {
        bail!(
            "{what} {} has mode {mode:03o}: others can write it and so run code in the host. Fix it with `chmod {fix} {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN]> {
    if !path.exists() {
        create_key(path)?;
    }
    check_private(path, 0o077, "compiled-component cache key", "600")?;
    let text = fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read compiled-component cache key {}",
            path.display()
        )
    })?;
    let mut key = [0u8; KEY_LEN];
    hex::decode_to_slice(text.trim(), &mut key).map_err(|_| {
        anyhow::anyhow!(
            "compiled-component cache key {} is not {KEY_LEN} hex-encoded bytes; delete it to make a new one",
            path.display()
        )
    })?;
    Ok(key)
}

/// Writes a fresh key next to `path` and links it into place, so that two hosts starting at once
/// agree on one key (the loser of the race reads the winner's).
fn create_key(path: &Path) -> Result<()> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = write_private_beside(path, &[hex::encode(key).as_bytes()])?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_writable_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::open(&dir, &tmp.path().join("key"))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("mode 777"), "{err:#}");
    }

    #[test]
    fn a_new_directory_is_private_and_entries_are_bound_to_key_and_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/cache");
        let cache = CompileCache::open(&dir, &tmp.path().join("key")).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let key_mode = fs::metadata(tmp.path().join("key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);

        let mut mac = cache.mac("a.cwasm").unwrap();
        mac.update(b"code");
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&mac.finalize().into_bytes());
        entry.extend_from_slice(b"code");
        assert_eq!(cache.verified("a.cwasm", &entry), Some(&b"code"[..]));
        assert_eq!(cache.verified("b.cwasm", &entry), None);
        let mut tampered = entry.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(cache.verified("a.cwasm", &tampered), None);
        assert_eq!(cache.verified("a.cwasm", b"short"), None);

        // Another installation's key does not verify this one's entries.
        let other = CompileCache::open(&dir, &tmp.path().join("other-key")).unwrap();
        assert_eq!(other.verified("a.cwasm", &entry), None);
        assert_ne!(other.key_id, cache.key_id);
    }
}
