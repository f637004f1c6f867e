//! `fermyon:spin/key-value` with Spin's semantics: access is decided at `open` (a label the
//! component was not granted is `access-denied`, whether or not it exists anywhere, so a bug in
//! one component cannot reach another service's data); every granted label exists, `default`
//! included; a missing key is `none`; deleting a missing key is ok.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::redis::KvResult;
use super::store::KvStore;
use crate::capabilities::bindings::key_value;
use crate::capabilities::{Granted, LabelGrants, Refused};
use crate::observability::metrics::StorageOp;
use crate::observability::observe_storage;

/// The labels a component was granted, each bound to its backend.
pub type KeyValueGrants = LabelGrants<KvStore>;

/// One instance's key-value state: its grants and the stores it has open.
pub type KeyValueState = Granted<KvStore>;

impl KeyValueState {
    fn store(&self, store: &Resource<KvStore>) -> wasmtime::Result<KvStore> {
        Ok(self.open.get(store)?.clone())
    }
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    state: fn(&mut T) -> &mut KeyValueState,
) -> wasmtime::Result<()> {
    key_value::add_to_linker::<T, HasSelf<KeyValueState>>(linker, state)
}

/// A storage error reaches the guest as `other` (the message names the failure, never data). An
/// unreachable backend instead stops the instance: the host answers 503 itself.
fn outcome<T>(r: KvResult<T>) -> wasmtime::Result<Result<T, key_value::Error>> {
    match r {
        Ok(v) => Ok(v.map_err(key_value::Error::Other)),
        Err(unavailable) => Err(wasmtime::Error::new(unavailable)),
    }
}

impl key_value::Host for KeyValueState {}

impl key_value::HostStore for KeyValueState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, key_value::Error>> {
        Ok(self
            .open_label(&label, KvStore::clone)?
            .map_err(|refused| match refused {
                Refused::NotGranted => key_value::Error::AccessDenied,
                Refused::TooManyOpen => key_value::Error::StoreTableFull,
            }))
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, key_value::Error>> {
        let store = self.store(&store)?;
        outcome(
            observe_storage(
                store.backend(),
                StorageOp::Get,
                self.trace.as_deref(),
                store.get(key),
            )
            .await,
        )
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        let store = self.store(&store)?;
        outcome(
            observe_storage(
                store.backend(),
                StorageOp::Set,
                self.trace.as_deref(),
                store.set(key, value),
            )
            .await,
        )
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        let store = self.store(&store)?;
        outcome(
            observe_storage(
                store.backend(),
                StorageOp::Delete,
                self.trace.as_deref(),
                store.delete(key),
            )
            .await,
        )
    }

    async fn exists(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, key_value::Error>> {
        let store = self.store(&store)?;
        outcome(
            observe_storage(
                store.backend(),
                StorageOp::Exists,
                self.trace.as_deref(),
                store.exists(key),
            )
            .await,
        )
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, key_value::Error>> {
        let store = self.store(&store)?;
        outcome(
            observe_storage(
                store.backend(),
                StorageOp::GetKeys,
                self.trace.as_deref(),
                store.get_keys(),
            )
            .await,
        )
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.open.close(store)
    }
}
