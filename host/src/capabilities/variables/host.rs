//! `fermyon:spin/variables`: a guest reads its own component variables, rendered at start from
//! application variables; nothing else.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::capabilities::bindings::variables;
use host_config::variables::validate_variable_name;

/// Component variable → its rendered value, or the application variable that had none.
pub type ComponentVariables = HashMap<String, Result<String, String>>;

/// One instance's view of its component's variables.
pub struct VariablesState {
    values: Arc<ComponentVariables>,
}

impl VariablesState {
    pub fn new(values: Arc<ComponentVariables>) -> Self {
        VariablesState { values }
    }
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    state: fn(&mut T) -> &mut VariablesState,
) -> wasmtime::Result<()> {
    variables::add_to_linker::<T, HasSelf<VariablesState>>(linker, state)
}

impl variables::Host for VariablesState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if let Err(e) = validate_variable_name(&name) {
            return Ok(Err(variables::Error::InvalidName(e.to_string())));
        }
        Ok(match self.values.get(&name) {
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
