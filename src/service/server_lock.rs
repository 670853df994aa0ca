//! One MCP HTTP server per repository: an exclusive lock on `.cw/run.lock` (the kernel releases
//! it when the owner dies, so a stale owner can never block a restart) and `.cw/server.json`
//! telling clients where to connect.

use std::io::{Read, Seek, Write};

use serde_json::json;

use super::{Service, ServiceError};
use crate::model::Timestamp;

/// Held while this process serves; dropping it removes `server.json` and releases the lock.
#[derive(Debug)]
pub struct ServerLock {
    file: std::fs::File,
    server_json: std::path::PathBuf,
}

impl Service {
    /// Takes the repository's server lock, or names the process that holds it.
    pub fn lock_server(&self) -> Result<ServerLock, ServiceError> {
        let path = self.workspace.cw_dir.join("run.lock");
        let io = |source| ServiceError::Io { path: path.clone(), source };
        let mut file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?
            .into_parts()
            .0;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut owner = String::new();
                let _ = file.read_to_string(&mut owner);
                let pid = owner
                    .trim()
                    .parse::<u32>()
                    .map_or_else(|_| "unknown".to_owned(), |p| p.to_string());
                return Err(ServiceError::ServerRunning { pid });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io)?;
        Ok(ServerLock { file, server_json: self.workspace.cw_dir.join("server.json") })
    }
}

/// Where a running `cw run` serves.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Streamable HTTP MCP.
    pub mcp: String,
    /// Legacy HTTP+SSE MCP.
    pub sse: String,
    /// The dashboard, with the login token of this run.
    pub dashboard: String,
}

impl Service {
    /// The dashboard URL of the `cw run` serving this repository, from `.cw/server.json`.
    pub fn dashboard_url(&self) -> Result<String, ServiceError> {
        let path = self.workspace.cw_dir.join("server.json");
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ServiceError::NotServing);
            }
            Err(source) => return Err(ServiceError::Io { path, source }),
        };
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        match value.get("dashboard_url").and_then(|url| url.as_str()) {
            Some(url) => Ok(url.to_owned()),
            None => Err(ServiceError::NotServing),
        }
    }

    /// A page that forwards a browser to the dashboard's sign-in link: `.cw/dashboard.html`,
    /// readable by its owner only. An opener is handed this file, never the link itself, which
    /// on its command line every local user could read in `ps` while it runs.
    pub fn dashboard_opener(&self) -> Result<std::path::PathBuf, ServiceError> {
        let url = self.dashboard_url()?;
        let path = self.workspace.cw_dir.join("dashboard.html");
        // The link is cw's own (`http://127.0.0.1:<port>/?token=cwd_<hex>`); escaped all the same.
        let attribute = url.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
        let page = format!(
            "<!doctype html>\n<meta charset=\"utf-8\">\n<meta name=\"referrer\" content=\"no-referrer\">\n\
             <meta http-equiv=\"refresh\" content=\"0; url={attribute}\">\n<title>cw dashboard</title>\n"
        );
        let io = |source| ServiceError::Io { path: path.clone(), source };
        let mut file = tempfile::NamedTempFile::new_in(&self.workspace.cw_dir).map_err(io)?;
        file.write_all(page.as_bytes()).map_err(io)?;
        file.persist(&path).map_err(|err| io(err.error))?;
        Ok(path)
    }
}

impl ServerLock {
    /// Publishes the endpoints (streamable HTTP, legacy SSE, the dashboard with its login token)
    /// in `.cw/server.json`, atomically (temp file + rename) and readable by its owner only: the
    /// dashboard URL logs in as the operator.
    pub fn publish(
        &self,
        endpoints: &Endpoints,
        started_at: Timestamp,
    ) -> Result<(), ServiceError> {
        use fs_err::os::unix::fs::OpenOptionsExt;
        let pid = std::process::id();
        let started_at = started_at.rfc3339();
        let body = json!({
            "url": endpoints.mcp,
            "sse_url": endpoints.sse,
            "dashboard_url": endpoints.dashboard,
            "pid": pid,
            "started_at": started_at,
        });
        let temp = self.server_json.with_extension("json.tmp");
        let io = |source| ServiceError::Io { path: self.server_json.clone(), source };
        let _ = fs_err::remove_file(&temp);
        let mut file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io)?;
        file.write_all(format!("{body:#}\n").as_bytes()).map_err(io)?;
        drop(file);
        fs_err::rename(&temp, &self.server_json).map_err(io)
    }
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        let _ = fs_err::remove_file(&self.server_json);
        let _ = self.file.unlock();
    }
}
