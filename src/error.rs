//! The one classification of errors at the boundary: is it the user's to fix, a usage mistake,
//! or cw's own fault? The CLI turns this into exit codes 1/2; MCP into tool errors vs JSON-RPC
//! errors.

use crate::service::ServiceError;
use crate::store::StoreError;

/// Who has to act on an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or state the user can fix (exit 1, MCP tool error).
    User,
    /// The command line itself is wrong (exit 2).
    Usage,
    /// A bug or an environment failure (exit 1, logged with its cause chain).
    Internal,
}

/// Classifies a service error.
pub fn classify(err: &ServiceError) -> ErrorKind {
    match err {
        ServiceError::BadId(_) => ErrorKind::Usage,
        ServiceError::Store(StoreError::Sqlite { .. }) | ServiceError::Internal(_) => {
            ErrorKind::Internal
        }
        _ => ErrorKind::User,
    }
}

/// A short next step for errors where the message alone may not be enough.
pub fn hint(err: &ServiceError) -> Option<&'static str> {
    match err {
        ServiceError::Store(StoreError::Busy { .. }) => {
            Some("another cw process holds the database; wait for it or stop it")
        }
        ServiceError::Store(StoreError::Corrupt { .. }) => {
            Some("restore .cw/cw.db from a backup, or move it away and run `cw init` again")
        }
        _ => None,
    }
}
