//! `fermyon:spin/{key-value,sqlite,variables}@2.0.0` with Spin's semantics.
//!
//! Access is decided at `open`: a label the component was not granted in `spin.toml` is
//! `access-denied`, whether or not it exists anywhere, so a bug in one component cannot reach
//! another service's data. Granted labels always exist (`default` included): a label without
//! runtime configuration gets the embedded backend.

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::instance::HostState;
use crate::storage::kv::KvStore;
use crate::storage::redis_kv::KvResult;
use crate::storage::sql::SqlConn;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "keyward-host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": crate::storage::kv::KvStore,
            "fermyon:spin/sqlite.connection": crate::storage::sql::SqlConn,
        },
    });
}

pub use bindings::fermyon::spin::{key_value, sqlite, variables};

pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    key_value::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    sqlite::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    variables::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    Ok(())
}

/// A storage error reaches the guest as the interface's `other`/`io` variant (the message names
/// the failure, never data). An unreachable backend instead stops the instance: the host answers
/// 503 itself (see `storage`).
fn kv_outcome<T>(r: KvResult<T>) -> wasmtime::Result<Result<T, key_value::Error>> {
    match r {
        Ok(v) => Ok(v.map_err(key_value::Error::Other)),
        Err(unavailable) => Err(wasmtime::Error::new(unavailable)),
    }
}

impl key_value::Host for HostState {}

impl key_value::HostStore for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, key_value::Error>> {
        let Some(store) = self.grants.key_value_stores.get(&label) else {
            return Ok(Err(key_value::Error::AccessDenied));
        };
        Ok(Ok(self.table.push(store.clone())?))
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, key_value::Error>> {
        let store = self.table.get(&store)?.clone();
        kv_outcome(store.get(key).await)
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        let store = self.table.get(&store)?.clone();
        kv_outcome(store.set(key, value).await)
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        let store = self.table.get(&store)?.clone();
        kv_outcome(store.delete(key).await)
    }

    async fn exists(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, key_value::Error>> {
        let store = self.table.get(&store)?.clone();
        kv_outcome(store.exists(key).await)
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, key_value::Error>> {
        let store = self.table.get(&store)?.clone();
        kv_outcome(store.get_keys().await)
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl sqlite::Host for HostState {}

impl sqlite::HostConnection for HostState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConn>, sqlite::Error>> {
        let Some(db) = self.grants.sqlite_databases.get(&database) else {
            return Ok(Err(sqlite::Error::AccessDenied));
        };
        Ok(Ok(self.table.push(db.connect())?))
    }

    async fn execute(
        &mut self,
        conn: Resource<SqlConn>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<sqlite::QueryResult, sqlite::Error>> {
        let conn = self.table.get_mut(&conn)?;
        conn.execute(statement, parameters)
            .await
            .map_err(wasmtime::Error::new)
    }

    async fn drop(&mut self, conn: Resource<SqlConn>) -> wasmtime::Result<()> {
        // Dropping the SqlConn hands its pooled connection back (rolled back if mid-transaction).
        self.table.delete(conn)?;
        Ok(())
    }
}

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if let Err(e) = crate::variables::validate_variable_name(&name) {
            return Ok(Err(variables::Error::InvalidName(e.to_string())));
        }
        Ok(match self.grants.variables.get(&name) {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(missing)) => Err(variables::Error::Undefined(format!(
                "no value for application variable `{missing}`"
            ))),
            None => Err(variables::Error::Undefined(format!(
                "no variable named `{name}` for this component"
            ))),
        })
    }
}
