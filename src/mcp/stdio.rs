//! The standard streams as an MCP transport, driven by the current thread's IO reactor where
//! they allow it.
//!
//! tokio's `Stdin` and `Stdout` hand every read and write to its blocking pool: one more thread
//! per `cw mcp` and a cross-thread hand-off per message. Every agent session runs its own
//! `cw mcp`, so both add up. Clients start stdio servers on pipes (Python's SDK, tokio, cw's
//! scripted agent) or on Unix sockets (Node, so Claude Code and the MCP Inspector): both are
//! read and written without blocking here. Anything else (a terminal, a file) keeps the
//! blocking handles.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;

use tokio::io::{AsyncRead, AsyncWrite};

/// The reading and writing halves of the transport.
pub(super) type Streams = (Box<dyn AsyncRead + Send + Unpin>, Box<dyn AsyncWrite + Send + Unpin>);

/// stdin and stdout as non-blocking sockets when both are sockets, else rmcp's pipe transport
/// (non-blocking when both are pipes, tokio's blocking handles otherwise). Must run inside a
/// tokio runtime with IO enabled.
pub(super) fn streams() -> Streams {
    if let Some((read, write)) = sockets() {
        return (Box::new(read), Box::new(write));
    }
    let (read, write) = rmcp::transport::stdio_pipes();
    (Box::new(read), Box::new(write))
}

/// Both standard streams as tokio sockets, if both are sockets. Only then is either touched:
/// `O_NONBLOCK` lands on the sockets' open file descriptions, which this process shares with no
/// one but children that inherit them (`cw mcp` starts none); the client holds the other ends.
/// If either cannot be made non-blocking and registered, both are put back as they were, for the
/// blocking fallback.
fn sockets() -> Option<(tokio::net::UnixStream, tokio::net::UnixStream)> {
    let stdin = UnixStream::from(socket(std::io::stdin().as_fd())?);
    let stdout = UnixStream::from(socket(std::io::stdout().as_fd())?);
    let registered = (|| {
        stdin.set_nonblocking(true)?;
        stdout.set_nonblocking(true)?;
        let read = tokio::net::UnixStream::from_std(stdin.try_clone()?)?;
        let write = tokio::net::UnixStream::from_std(stdout.try_clone()?)?;
        Ok::<_, std::io::Error>((read, write))
    })();
    if registered.is_err() {
        let _ = stdin.set_nonblocking(false);
        let _ = stdout.set_nonblocking(false);
    }
    registered.ok()
}

/// A duplicate of `fd` if it is a socket.
fn socket(fd: BorrowedFd<'_>) -> Option<OwnedFd> {
    let owned = fd.try_clone_to_owned().ok()?;
    let file = std::fs::File::from(owned.try_clone().ok()?);
    file.metadata().ok()?.file_type().is_socket().then_some(owned)
}
