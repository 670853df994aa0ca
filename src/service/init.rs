//! `cw init`: create `.cw/` (database, config, logs, operator token) and the integration branch.
//! Either everything is set up or nothing changed: the directory is built under a temporary name
//! and renamed into place last. In a `.cw/` that lost its database or operator token, `cw init`
//! makes just those again and touches nothing else; a new database hands out no id that cw's
//! branches, worktrees or agent directories already carry.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Service, ServiceError, token};
use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::git::{self, BranchOutcome};
use crate::store::{Location, Store};
use crate::workspace::{CW_DIR, StateDir, Workspace};

/// What `cw init` set up.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub root: PathBuf,
    pub cw_dir: PathBuf,
    pub integration_branch: String,
    pub branch_created: bool,
    /// In an existing `.cw/`: what was missing and made again (nothing else was touched).
    pub repaired: Vec<PathBuf>,
    /// cw was set up already and nothing was missing: nothing changed.
    pub unchanged: bool,
}

impl Service {
    /// Sets up cw in the repository containing `start`, its state in `.cw/cw.db` (or where
    /// `CW_DATABASE_URL` points).
    pub fn init(start: &Path) -> Result<InitReport, ServiceError> {
        Service::init_with_store(start, None)
    }

    /// Sets up cw with its state in the PostgreSQL database `store_url` (written to
    /// `[store] url`), or as [`Service::init`] does when `None`.
    pub fn init_with_store(
        start: &Path,
        store_url: Option<&str>,
    ) -> Result<InitReport, ServiceError> {
        let workspace = Workspace::locate(start)?;
        match workspace.state_dir() {
            StateDir::Absent => {}
            StateDir::Broken { path, what } => {
                return Err(ServiceError::BrokenState { path, what });
            }
            StateDir::Ready | StateDir::NoDatabase => return repair(&workspace, store_url),
        }
        let mut config = Config::default();
        // A URL from CW_DATABASE_URL is recorded too (without its password), so a shell without
        // the variable still finds the state, and asks for the password instead of opening none.
        let env_url = config.store.postgres_url();
        let recorded =
            store_url.map(str::to_owned).or_else(|| env_url.as_deref().map(without_password));
        if let Some(url) = &recorded {
            config.store.url.clone_from(url);
        }
        git::validate_branch_name(&config.integration_branch)?;
        git::require_commits(&workspace.repo)?;

        let staging = workspace.root().join(format!("{CW_DIR}.init-{}", std::process::id()));
        let location = super::store_location(&workspace, &config);
        let built = build_state_dir(&staging, recorded.as_deref(), &location);
        let renamed = built.and_then(|()| {
            fs_err::rename(&staging, &workspace.cw_dir).map_err(|source| {
                if workspace.cw_dir.exists() {
                    ServiceError::AlreadyInitialised { path: workspace.cw_dir.clone() }
                } else {
                    ServiceError::Io { path: workspace.cw_dir.clone(), source }
                }
            })
        });
        if let Err(err) = renamed {
            let _ = fs_err::remove_dir_all(&staging);
            return Err(err);
        }

        let branch = git::WriteLock::acquire(&workspace.repo)
            .and_then(|lock| git::ensure_branch(&workspace.repo, &lock, &config.integration_branch))
            .and_then(|outcome| {
                git::check_integration_branch(&workspace.repo, &config.integration_branch)?;
                git::exclude(&workspace.repo, "/.cw/").map(|()| outcome)
            });
        let outcome = match branch {
            Ok(outcome) => outcome,
            Err(err) => {
                let _ = fs_err::remove_dir_all(&workspace.cw_dir);
                return Err(err.into());
            }
        };
        Ok(InitReport {
            root: workspace.root().to_owned(),
            cw_dir: workspace.cw_dir.clone(),
            integration_branch: config.integration_branch,
            branch_created: outcome == BranchOutcome::Created,
            repaired: Vec::new(),
            unchanged: false,
        })
    }
}

impl Service {
    /// Sets this clone up as the worker `hello` names (a `.cw/` whose config points at the shared
    /// state, with no database of its own) and opens it; an existing worker set-up for the same
    /// host is opened as it is, one for another host or repository refused.
    pub fn join_as_worker(
        start: &Path,
        hello: &super::WorkerHello,
    ) -> Result<Service, ServiceError> {
        let workspace = Workspace::locate(start)?;
        match workspace.state_dir() {
            StateDir::Broken { path, what } => {
                return Err(ServiceError::BrokenState { path, what });
            }
            StateDir::Ready => {
                return Err(ServiceError::InvalidInput(format!(
                    "{} holds cw state of its own (.cw/cw.db): run `cw worker` in a clone of the coordinator's repository that cw is not set up in",
                    workspace.root().display()
                )));
            }
            StateDir::NoDatabase => {
                let config = Config::load(&workspace.config_path())?;
                if config.worker.host() != Some(hello.name.as_str()) {
                    return Err(ServiceError::InvalidInput(format!(
                        "{} is set up for another host or repository ([worker] name = {:?}); use a clone of its own for host {}",
                        workspace.cw_dir.display(),
                        config.worker.name,
                        hello.name
                    )));
                }
            }
            StateDir::Absent => {
                let staging =
                    workspace.root().join(format!("{CW_DIR}.init-{}", std::process::id()));
                let built = build_worker_dir(&staging, hello).and_then(|()| {
                    fs_err::rename(&staging, &workspace.cw_dir).map_err(|source| ServiceError::Io {
                        path: workspace.cw_dir.clone(),
                        source,
                    })
                });
                if let Err(err) = built {
                    let _ = fs_err::remove_dir_all(&staging);
                    return Err(err);
                }
                git::exclude(&workspace.repo, "/.cw/")?;
            }
        }
        Service::open(workspace)
    }
}

/// A worker's `.cw/`: logs, an operator token for its own commands, and a config (0600: it holds
/// the store's URL) naming the host and the shared state.
fn build_worker_dir(dir: &Path, hello: &super::WorkerHello) -> Result<(), ServiceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ServiceError::Io { path, source }
    };
    fs_err::create_dir(dir).map_err(io(dir))?;
    fs_err::create_dir(dir.join("logs")).map_err(io(&dir.join("logs")))?;
    let mut text = with_store_url(DEFAULT_CONFIG_TOML, &hello.store_url)?;
    let quoted = |value: &str| value.replace('\\', "\\\\").replace('"', "\\\"");
    text = text.replacen(
        "integration_branch = \"cw/integration\"",
        &format!("integration_branch = \"{}\"", quoted(&hello.integration_branch)),
        1,
    );
    let settings = [
        ("[worker]", "name", format!("\"{}\"", quoted(&hello.name))),
        ("[worker]", "heartbeat_seconds", hello.heartbeat_seconds.to_string()),
        ("[worker]", "lost_after_seconds", hello.lost_after_seconds.to_string()),
        ("[claims]", "lease_seconds", hello.lease_seconds.to_string()),
        ("[claims]", "max_attempts", hello.max_attempts.to_string()),
    ];
    for (section, key, value) in settings {
        text = replace_in_section(&text, section, key, &format!("{key} = {value}"));
    }
    Config::parse(&text).map_err(|message| {
        ServiceError::Config(crate::config::ConfigError::Parse {
            path: dir.join("config.toml"),
            message,
        })
    })?;
    write_secret(&dir.join("config.toml"), &text)?;
    write_secret(&dir.join("operator.token"), &token::generate("cwo_")?)?;
    Ok(())
}

/// `text` with the `key = …` line of `section` replaced by `line`.
fn replace_in_section(text: &str, section: &str, key: &str, line: &str) -> String {
    let mut in_section = false;
    let mut out = Vec::new();
    for current in text.lines() {
        let trimmed = current.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed == section;
        }
        let is_key =
            trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='));
        out.push(if in_section && is_key { line.to_owned() } else { current.to_owned() });
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

/// Makes again what an existing `.cw/` lacks (the database, the operator token, the logs
/// directory); changes nothing when nothing is missing.
fn repair(workspace: &Workspace, store_url: Option<&str>) -> Result<InitReport, ServiceError> {
    let config = Config::load(&workspace.config_path())?;
    let location = super::store_location(workspace, &config);
    if let Some(url) = store_url
        && location != Location::Postgres(url.to_owned())
    {
        return Err(ServiceError::StoreElsewhere { cw_dir: workspace.cw_dir.clone() });
    }
    let mut repaired = Vec::new();
    let db = workspace.db_path();
    if let Location::Postgres(_) = location {
        // The schema is brought up to date; the database itself is the server's to keep.
        drop(Store::open_at(&location)?);
    } else if db.exists() {
        // A corrupt database is named with its way out, not "already initialised".
        drop(Store::open(&db)?);
    } else {
        git::check_integration_branch(&workspace.repo, &config.integration_branch).or_else(
            |err| match err {
                git::GitError::MissingBranch { .. } => Ok(()),
                other => Err(other),
            },
        )?;
        let store = Store::create(&db)?;
        let (tasks_above, agents_above) = ids_in_use(workspace, &config)?;
        let now = super::Clock::System.now();
        store.write(|tx| {
            Ok::<_, ServiceError>(tx.raise_id_floors(tasks_above, agents_above, now)?)
        })?;
        repaired.push(db);
    }
    let token = workspace.operator_token_path();
    let empty = fs_err::read_to_string(&token).is_ok_and(|text| text.trim().is_empty());
    if empty {
        fs_err::remove_file(&token)
            .map_err(|source| ServiceError::Io { path: token.clone(), source })?;
    }
    if !token.exists() {
        write_secret(&token, &token::generate("cwo_")?)?;
        repaired.push(token);
    }
    let logs = workspace.logs_dir();
    if !logs.is_dir() {
        fs_err::create_dir_all(&logs)
            .map_err(|source| ServiceError::Io { path: logs.clone(), source })?;
        repaired.push(logs);
    }
    if repaired.is_empty() {
        return Ok(InitReport {
            root: workspace.root().to_owned(),
            cw_dir: workspace.cw_dir.clone(),
            integration_branch: config.integration_branch,
            branch_created: false,
            repaired,
            unchanged: true,
        });
    }
    let lock = git::WriteLock::acquire(&workspace.repo)?;
    let outcome = git::ensure_branch(&workspace.repo, &lock, &config.integration_branch)?;
    drop(lock);
    git::check_integration_branch(&workspace.repo, &config.integration_branch)?;
    git::exclude(&workspace.repo, "/.cw/")?;
    Ok(InitReport {
        root: workspace.root().to_owned(),
        cw_dir: workspace.cw_dir.clone(),
        integration_branch: config.integration_branch,
        branch_created: outcome == BranchOutcome::Created,
        repaired,
        unchanged: false,
    })
}

/// The highest task and agent numbers that survive a lost database: in cw's branches and
/// archive refs, in the agents' worktree directories and in `.cw/agents/`.
fn ids_in_use(workspace: &Workspace, config: &Config) -> Result<(i64, i64), ServiceError> {
    let mut tasks = git::task_numbers_in_refs(&workspace.repo)?;
    tasks.extend(
        dir_names(&workspace.worktrees_dir(&config.agent.worktree_dir))
            .iter()
            .filter_map(|name| git::task_number(name)),
    );
    let agents = dir_names(&workspace.cw_dir.join("agents"))
        .iter()
        .filter_map(|name| name.strip_prefix('a')?.parse::<i64>().ok())
        .max()
        .unwrap_or(0);
    Ok((tasks.into_iter().max().unwrap_or(0), agents))
}

fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs_err::read_dir(dir) else { return Vec::new() };
    entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

fn build_state_dir(
    dir: &Path,
    store_url: Option<&str>,
    location: &Location,
) -> Result<(), ServiceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ServiceError::Io { path, source }
    };
    fs_err::create_dir(dir).map_err(io(dir))?;
    fs_err::create_dir(dir.join("logs")).map_err(io(&dir.join("logs")))?;
    match store_url {
        None => fs_err::write(dir.join("config.toml"), DEFAULT_CONFIG_TOML)
            .map_err(io(&dir.join("config.toml")))?,
        // A URL may carry a password: the file is the owner's alone.
        Some(url) => write_secret(&dir.join("config.toml"), &config_with_store(url)?)?,
    }
    write_secret(&dir.join("operator.token"), &token::generate("cwo_")?)?;
    match location {
        // The store is closed (and its WAL checkpointed) before the directory is renamed.
        Location::File(_) => drop(Store::create(&dir.join("cw.db"))?),
        Location::Postgres(_) => drop(Store::create_at(location)?),
    }
    Ok(())
}

/// The default config with `[store] url` set.
fn config_with_store(url: &str) -> Result<String, ServiceError> {
    with_store_url(DEFAULT_CONFIG_TOML, url)
}

/// Config text with `[store] url` set to `url` (a TOML basic string; a control character is
/// refused, since no URL holds one): the line replaced where the text has it, the section added
/// where it has none.
pub(super) fn with_store_url(text: &str, url: &str) -> Result<String, ServiceError> {
    if url.chars().any(char::is_control) {
        return Err(ServiceError::Store(crate::store::StoreError::BadUrl {
            cause: "it holds a control character".to_owned(),
        }));
    }
    let quoted = url.replace('\\', "\\\\").replace('"', "\\\"");
    let line = format!("url = \"{quoted}\"");
    let mut in_store = false;
    let mut replaced = false;
    let mut out = Vec::new();
    for current in text.lines() {
        let trimmed = current.trim();
        if trimmed.starts_with('[') {
            in_store = trimmed == "[store]";
        }
        if in_store
            && !replaced
            && trimmed.starts_with("url")
            && trimmed[3..].trim_start().starts_with('=')
        {
            out.push(line.clone());
            replaced = true;
        } else {
            out.push(current.to_owned());
        }
    }
    let mut text = out.join("\n");
    if !replaced {
        text.push_str(&format!("\n\n[store]\n{line}"));
    }
    text.push('\n');
    Ok(text)
}

/// Replaces a file with `text`, readable only by its owner (written beside it, renamed over).
pub(super) fn rewrite_secret(path: &Path, text: &str) -> Result<(), ServiceError> {
    let io = |source| ServiceError::Io { path: path.to_owned(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.persist(path).map_err(|err| io(err.error))?;
    Ok(())
}

/// `url` with its password taken out (`postgres://u:secret@h/db` → `postgres://u@h/db`; in the
/// key-value form, the `password=` pair dropped).
fn without_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let user = rest[..at].split(':').next().unwrap_or_default();
            return format!("{scheme}://{user}{}", &rest[at..]);
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .filter(|pair| !pair.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a file only its owner can read (mode 0600 from the start, never wider).
fn write_secret(path: &Path, secret: &str) -> Result<(), ServiceError> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let io = |source| ServiceError::Io { path: path.to_owned(), source };
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(secret.as_bytes()).and_then(|()| file.write_all(b"\n")).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_recorded_url_keeps_no_password() {
        assert_eq!(without_password("postgres://cw:s3cret@db:5432/cw"), "postgres://cw@db:5432/cw");
        assert_eq!(without_password("postgres://cw@db/cw"), "postgres://cw@db/cw");
        assert_eq!(without_password("postgresql://db/cw?x=1"), "postgresql://db/cw?x=1");
        assert_eq!(
            without_password("host=db user=cw password=x dbname=cw"),
            "host=db user=cw dbname=cw"
        );
    }
}
