//! Who is calling: an agent (by its token) or the operator (the repository's owner).

use super::{Service, ServiceError, token};
use crate::store::AgentRecord;

/// The authenticated caller of a service operation.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An agent: it may act only on its own task.
    Agent(Box<AgentRecord>),
    /// The human (operator token, or the owner's own `cw mcp`/CLI).
    Operator,
}

impl Caller {
    /// The agent, or the rule an operator broke by calling an agent tool.
    pub fn agent(&self) -> Result<&AgentRecord, ServiceError> {
        match self {
            Caller::Agent(agent) => Ok(agent),
            Caller::Operator => Err(ServiceError::AgentOnly),
        }
    }

    /// Ok for the operator, or the rule an agent broke by calling an operator tool.
    pub fn require_operator(&self) -> Result<(), ServiceError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Agent(agent) => Err(ServiceError::OperatorOnly { agent: agent.id }),
        }
    }

    /// A short name for logs and `answered_by`.
    pub fn label(&self) -> String {
        match self {
            Caller::Agent(agent) => agent.id.to_string(),
            Caller::Operator => "operator".to_owned(),
        }
    }
}

impl Service {
    /// The caller a token identifies: an agent token, or the operator token in
    /// `.cw/operator.token`. Without a token, the operator if `owner_may_skip_token` (a process
    /// of the repository's owner that can read the operator token file, e.g. stdio `cw mcp`).
    pub fn caller_for(
        &self,
        token: Option<&str>,
        owner_may_skip_token: bool,
    ) -> Result<Caller, ServiceError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let operator = self.operator_token_hash();
        match token {
            None if owner_may_skip_token && operator.is_some() => Ok(Caller::Operator),
            None => Err(ServiceError::MissingToken),
            Some(given) if operator.as_deref() == Some(token::hash(given).as_str()) => {
                Ok(Caller::Operator)
            }
            Some(given) => Ok(Caller::Agent(Box::new(self.authenticate(Some(given))?))),
        }
    }

    fn operator_token_hash(&self) -> Option<String> {
        let text = fs_err::read_to_string(self.workspace.operator_token_path()).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| token::hash(text))
    }
}
