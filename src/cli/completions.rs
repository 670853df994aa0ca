//! `cw completions` and the ids it completes.
//!
//! Completion is dynamic (clap_complete's `CompleteEnv`): the script a shell sources calls back
//! into `cw` with `COMPLETE=<shell>`, so task, agent and question ids come from the repository
//! the user stands in, with their titles beside them. Static scripts could offer only verbs.

use clap::Args;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;
use clap_complete::{ArgValueCandidates, Shell};

use super::{CommandError, CommandResult};
use crate::service::{Caller, Service, Via};
use crate::store::TaskFilter;
use crate::workspace::Workspace;

/// Print a shell completion script (task, agent and question ids included)
///
/// bash: cw completions bash > ~/.local/share/bash-completion/completions/cw
/// zsh:  cw completions zsh > "${fpath[1]}/_cw"
/// fish: cw completions fish > ~/.config/fish/completions/cw.fish
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct CompletionsArgs {
    /// The shell to generate completions for
    shell: Shell,
}

/// The environment variable the shell scripts set when they ask `cw` for completions.
const VAR: &str = "COMPLETE";

/// Answers a shell's completion request and exits, when `COMPLETE` asks for one.
pub(crate) fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(super::command).var(VAR).complete();
}

pub(crate) fn cmd_completions(args: &CompletionsArgs) -> CommandResult {
    let shells = Shells::builtins();
    let shell = args.shell.to_string();
    let completer = shells
        .completer(&shell)
        .ok_or_else(|| CommandError::Usage(format!("no completions for {shell}")))?;
    // The script calls this very binary back, so it works where `cw` is not on PATH.
    let exe = std::env::current_exe()?;
    let mut script = Vec::new();
    completer.write_registration(VAR, "cw", "cw", &exe.to_string_lossy(), &mut script)?;
    let script =
        String::from_utf8(script).map_err(|e| CommandError::Io(std::io::Error::other(e)))?;
    super::output::text(script)
}

/// The repository around the current directory, if there is one set up: completion never fails
/// loudly (it runs on every Tab press).
fn service() -> Option<Service> {
    let cwd = std::env::current_dir().ok()?;
    Service::open(Workspace::locate(&cwd).ok()?).ok()
}

/// How much of a title or question shows beside its id.
const HELP_CHARS: usize = 60;

fn candidate(id: String, help: &str) -> CompletionCandidate {
    let help =
        crate::safe_text::visible(&crate::safe_text::first_line(help, HELP_CHARS)).into_owned();
    CompletionCandidate::new(id).help(Some(help.into()))
}

/// Task ids, with each task's state and title.
pub(crate) fn task_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Some(service) = service() else { return Vec::new() };
        let Ok(listing) = service.list_tasks(&TaskFilter::default()) else { return Vec::new() };
        let tasks = listing.tasks.iter();
        tasks.map(|t| candidate(t.id.to_string(), &format!("{}: {}", t.state, t.title))).collect()
    })
}

/// Agent ids, with each agent's state and name.
pub(crate) fn agent_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Some(service) = service() else { return Vec::new() };
        let Ok(agents) = service.list_agents(&Caller::CLI) else { return Vec::new() };
        let agents = agents.iter();
        agents.map(|a| candidate(a.id.to_string(), &format!("{}: {}", a.state, a.name))).collect()
    })
}

/// Open question ids, with each question's first line.
pub(crate) fn question_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Some(service) = service() else { return Vec::new() };
        let caller = Caller::Operator(Via::Cli);
        let Ok(questions) = service.open_questions(&caller) else { return Vec::new() };
        questions.iter().map(|q| candidate(q.id.to_string(), &q.question)).collect()
    })
}

/// Task and agent ids (`cw diff` takes either).
pub(crate) fn task_or_agent_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let mut all = task_ids().candidates();
        all.extend(agent_ids().candidates());
        all
    })
}
