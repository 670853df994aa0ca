//! Who is calling: an agent (by its token) or the operator (the repository's owner).

use super::{Service, ServiceError, token};
use crate::store::AgentRecord;

/// The authenticated caller of a service operation.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An agent: it may act only on its own task.
    Agent(Box<AgentRecord>),
    /// The human (operator token, or the owner's own `cw mcp`/CLI), and how they reached cw.
    Operator(Via),
}

/// How the human reached cw: recorded with what they did (a question's `answered_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The command line (`cw answer`, `cw send`, …).
    Cli,
    /// An MCP client with the operator token.
    Mcp,
    /// A file under `.cw/` (the mirror).
    File,
    /// The web dashboard of `cw run` (a browser with the operator's session cookie).
    Dashboard,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Mcp => "mcp",
            Via::File => "file",
            Via::Dashboard => "dashboard",
        }
    }

    /// "from the command line", for messages.
    pub fn words(label: &str) -> String {
        match label {
            "cli" => "from the command line".to_owned(),
            "mcp" => "over MCP".to_owned(),
            "file" => "in its inbox file".to_owned(),
            "dashboard" => "in the dashboard".to_owned(),
            other => format!("by {other}"),
        }
    }
}

impl Caller {
    /// The operator at the command line.
    pub const CLI: Caller = Caller::Operator(Via::Cli);

    /// The agent, or the rule an operator broke by calling an agent tool.
    pub fn agent(&self) -> Result<&AgentRecord, ServiceError> {
        match self {
            Caller::Agent(agent) => Ok(agent),
            Caller::Operator(_) => Err(ServiceError::AgentOnly),
        }
    }

    /// Ok for the operator, or the rule an agent broke by calling an operator tool.
    pub fn require_operator(&self) -> Result<(), ServiceError> {
        match self {
            Caller::Operator(_) => Ok(()),
            Caller::Agent(agent) => Err(ServiceError::OperatorOnly { agent: agent.id }),
        }
    }

    /// A short name for logs and `answered_by`.
    pub fn label(&self) -> String {
        match self {
            Caller::Agent(agent) => agent.id.to_string(),
            Caller::Operator(via) => via.as_str().to_owned(),
        }
    }
}

impl Service {
    /// The caller of a stdio `cw mcp [--agent ID]`: as `caller_for` with the owner allowed to
    /// skip the token, and, for a server started for one agent, only that agent's token.
    pub fn caller_for_stdio(
        &self,
        token: Option<&str>,
        for_agent: Option<crate::model::AgentId>,
    ) -> Result<Caller, ServiceError> {
        match (self.caller_for(token, true)?, for_agent) {
            (Caller::Agent(agent), Some(expected)) if agent.id != expected => {
                Err(ServiceError::TokenOfAnotherAgent { belongs: agent.id, expected })
            }
            (caller, _) => Ok(caller),
        }
    }

    /// The caller a token identifies: an agent token, or the operator token in
    /// `.cw/operator.token`. Without a token, the operator if `owner_may_skip_token` (a process
    /// of the repository's owner that can read the operator token file, e.g. stdio `cw mcp`).
    pub fn caller_for(
        &self,
        token: Option<&str>,
        owner_may_skip_token: bool,
    ) -> Result<Caller, ServiceError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        match token {
            None if owner_may_skip_token => {
                self.operator_token_hash()?;
                Ok(Caller::Operator(Via::Mcp))
            }
            None => Err(ServiceError::MissingToken),
            Some(given) => {
                let operator = self.operator_token_hash();
                let hash = token::hash(given);
                match operator {
                    Ok(operator) if operator == hash => Ok(Caller::Operator(Via::Mcp)),
                    // The operator's own token, from a file others can read: refused until fixed.
                    Err(err @ ServiceError::OperatorTokenExposed { .. })
                        if self.operator_token_file_hash().as_deref() == Some(hash.as_str()) =>
                    {
                        Err(err)
                    }
                    _ => Ok(Caller::Agent(Box::new(self.authenticate(Some(given))?))),
                }
            }
        }
    }

    /// A secret for `purpose` that only the holder of the operator token can know (derived from
    /// its hash, so it is the same in every process and every run until the token changes):
    /// the dashboard's session cookie and CSRF token.
    pub fn operator_secret(&self, purpose: &str) -> Result<String, ServiceError> {
        Ok(token::hash(&format!("{purpose}\n{}", self.operator_token_hash()?)))
    }

    /// The hash of the operator token in `.cw/operator.token`, refused when the file is missing
    /// or readable by anyone but its owner (the token acts as the repository's owner).
    fn operator_token_hash(&self) -> Result<String, ServiceError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.workspace.operator_token_path();
        let metadata = match fs_err::metadata(&path) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ServiceError::OperatorTokenMissing { path });
            }
            Err(source) => return Err(ServiceError::Io { path, source }),
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ServiceError::OperatorTokenExposed { path, mode });
        }
        self.operator_token_file_hash().ok_or(ServiceError::OperatorTokenMissing { path })
    }

    fn operator_token_file_hash(&self) -> Option<String> {
        let text = fs_err::read_to_string(self.workspace.operator_token_path()).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| token::hash(text))
    }
}
