//! `cw completions`.

use clap::Args;
use clap_complete::Shell;

use super::CommandResult;

/// Print a shell completion script
///
/// Example: cw completions bash > ~/.local/share/bash-completion/completions/cw
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to generate completions for
    shell: Shell,
}

pub(crate) fn cmd_completions(args: &CompletionsArgs) -> CommandResult {
    let mut command = super::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "cw", &mut stdout);
    Ok(())
}
