//! OS signals → cancellation. Only this module (and `main`) touches signals; everything else takes
//! a `CancellationToken` (style.md R12).

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The two phases of a graceful stop: `app` first (blocked calls answer "shutting down"), then
/// `transport` a moment later so those answers still reach their clients.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    pub app: CancellationToken,
    pub transport: CancellationToken,
}

/// How long answers have to leave before the transport closes.
pub const DRAIN: Duration = Duration::from_millis(200);

impl Shutdown {
    /// Starts the graceful stop now (tests, or a caller that decides to stop).
    pub fn begin(&self) {
        self.app.cancel();
        let transport = self.transport.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DRAIN).await;
            transport.cancel();
        });
    }
}

/// Waits for SIGINT or SIGTERM and begins the graceful stop; a second signal exits at once.
pub async fn on_signals(shutdown: Shutdown) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        () = shutdown.app.cancelled() => return Ok(()),
    }
    tracing::info!("signal received: shutting down (send it again to stop at once)");
    shutdown.begin();
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::warn!("second signal: stopping at once");
    std::process::exit(130);
}

/// Resolves at the first SIGINT or SIGTERM (for foreground commands that clean up themselves).
pub async fn first_signal() -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}
