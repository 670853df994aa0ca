//! The scripted agent's commits, in process with git2: it knows what it wrote, so it stages
//! exactly those paths instead of starting two `git` processes per task (its own work is not what
//! the demo, tests and benchmarks measure, so it spends as little as it can).

use std::path::Path;

use git2::{Repository, Signature};

/// For a process whose commits are trees of blobs it has just hashed itself: libgit2 stops
/// checking that each tree entry's object exists, which reads every blob's header again on every
/// commit. Process-wide; only this binary does it (cw keeps the checks).
pub(crate) fn trust_own_trees() {
    git2::opts::strict_object_creation(false);
}

/// Commits `paths` (relative to the worktree: new, modified or deleted files) on its checked-out
/// branch, with what is staged already, as `git add -- <paths> && git commit --allow-empty`
/// would; returns the commit id. Nothing else in the worktree is read; a directory is refused
/// before anything is staged.
pub(crate) fn commit_paths(
    worktree: &Path,
    paths: &[String],
    message: &str,
    author: (&str, &str),
) -> Result<String, String> {
    let wrap = |err: git2::Error| format!("git error in {}: {err}", worktree.display());
    let repo = Repository::open(worktree).map_err(wrap)?;
    for path in paths {
        if worktree.join(path).symlink_metadata().is_ok_and(|meta| meta.is_dir()) {
            let path = worktree.join(path);
            return Err(format!(
                "{}: a directory, not a file, cannot be committed",
                path.display()
            ));
        }
    }
    let mut index = repo.index().map_err(wrap)?;
    for path in paths.iter().map(Path::new) {
        match worktree.join(path).symlink_metadata() {
            Ok(_) => index.add_path(path).map_err(wrap)?,
            Err(_) => index.remove_path(path).map_err(wrap)?,
        }
    }
    // The tree first, then the index: written after it, the index keeps the tree ids it just
    // computed (git's cache-tree), so whoever looks at this worktree next (the coordinator, to
    // see whether anything is staged before it reuses it) compares ids instead of hashing trees.
    let tree = index.write_tree().and_then(|id| repo.find_tree(id)).map_err(wrap)?;
    index.write().map_err(wrap)?;
    let parent = repo.head().and_then(|h| h.peel_to_commit()).map_err(wrap)?;
    let signature = Signature::now(author.0, author.1).map_err(wrap)?;
    let id = repo
        .commit(Some("HEAD"), &signature, &signature, message, &tree, &[&parent])
        .map_err(wrap)?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::disallowed_methods, reason = "the test drives a real git")]

    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_SYSTEM", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn commits_the_new_modified_and_deleted_files_it_is_given_and_nothing_else() {
        let repo = tempfile::tempdir().unwrap();
        let dir = repo.path();
        git(dir, &["init", "-q"]);
        fs_err::write(dir.join("README.md"), "first\n").unwrap();
        fs_err::write(dir.join("doomed.txt"), "soon gone\n").unwrap();
        git(dir, &["add", "."]);
        git(dir, &["commit", "-q", "-m", "first"]);
        let before = git(dir, &["rev-parse", "HEAD"]);
        fs_err::remove_file(dir.join("doomed.txt")).unwrap();
        fs_err::create_dir_all(dir.join("src/deep")).unwrap();
        fs_err::write(dir.join("src/deep/new.txt"), "new\n").unwrap();
        fs_err::write(dir.join("README.md"), "changed\n").unwrap();
        fs_err::write(dir.join("not-mine.txt"), "someone else's\n").unwrap();
        let author = ("sim", "sim@example.invalid");

        let refused = commit_paths(dir, &["README.md".into(), "src".into()], "a dir", author);
        assert!(refused.unwrap_err().contains("src"));
        assert_eq!(git(dir, &["rev-parse", "HEAD"]), before);
        assert_eq!(git(dir, &["diff", "--cached", "--name-only"]), "", "nothing staged");

        let paths = ["src/deep/new.txt", "README.md", "doomed.txt"].map(str::to_owned);
        let id = commit_paths(dir, &paths, "mine", author).unwrap();
        assert_eq!(git(dir, &["rev-parse", "HEAD"]).trim(), id);
        assert_eq!(git(dir, &["status", "--porcelain"]), "?? not-mine.txt\n");
        let changed = git(dir, &["show", "--name-status", "--format=", "HEAD"]);
        assert_eq!(changed, "M\tREADME.md\nD\tdoomed.txt\nA\tsrc/deep/new.txt\n");
        // The index keeps the committed tree's ids (git's cache-tree extension, "TREE").
        let index = fs_err::read(dir.join(".git/index")).unwrap();
        assert!(index.windows(4).any(|w| w == b"TREE"), "no cache-tree in the index");
    }
}
