//! The merge gate and the merge race under `cw run`: a merged tree the gate rejects never reaches
//! the integration branch and goes back to its agent with the gate's output; a task that keeps
//! failing its gate fails after `max_bounces`; a ref moved by someone else while a merge is being
//! tested is detected, kept, and the merge computed again on top of it.

use std::path::Path;

use crate::agents::add_task;
use crate::coordinator::{edit_config, integration_file, run_to_end, sim_env, tasks};
use crate::support::{TestEnv, command, hermetic};

/// Writes `script` outside the repository and makes it the merge gate.
fn set_gate(env: &TestEnv, script: &str) {
    let path = env.outer().join("gate.sh");
    fs_err::write(&path, script).unwrap();
    edit_config(env, "merge_gate = \"\"", &format!("merge_gate = \"sh {}\"", path.display()));
}

/// `path` in each commit on the integration branch's first-parent line, newest first.
fn first_parent_versions(env: &TestEnv, path: &str) -> Vec<Option<String>> {
    let log = env.git(&["log", "--first-parent", "--format=%H", "cw/integration"]);
    String::from_utf8_lossy(&log.stdout)
        .lines()
        .map(|commit| {
            let shown = hermetic(command("git"))
                .current_dir(env.root())
                .args(["show", &format!("{commit}:{path}")])
                .output()
                .unwrap();
            shown.status.success().then(|| String::from_utf8_lossy(&shown.stdout).into_owned())
        })
        .collect()
}

fn gate_runs(env: &TestEnv) -> usize {
    let log =
        fs_err::read_to_string(env.root().join(".cw/logs/merge-gate.log")).unwrap_or_default();
    log.lines().filter(|l| l.starts_with("gate ran on")).count()
}

#[test]
fn a_merge_the_gate_rejects_is_bounced_with_its_output_and_merged_once_fixed() {
    let env = sim_env("");
    set_gate(
        &env,
        "echo \"gate ran on $(git rev-parse HEAD)\"\n\
         if grep -q broken status.txt 2>/dev/null; then echo 'status.txt says broken'; exit 1; fi\n",
    );
    let fine = add_task(&env, "fine", "sim: write notes.txt fine\\n\n");
    let fragile = add_task(
        &env,
        "fragile",
        "sim: write status.txt broken\\n\nsim: on-bounce status.txt fixed\\n\n",
    );

    let (report, lines) = run_to_end(&env, 2);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    let bounced: Vec<&String> = lines.iter().filter(|l| l.contains("bounced back")).collect();
    assert_eq!(bounced.len(), 1, "{lines:#?}");
    assert!(bounced[0].starts_with(&format!("{fragile} bounced")), "{}", bounced[0]);
    assert!(bounced[0].contains("the merge gate"), "{}", bounced[0]);
    assert!(bounced[0].contains("status.txt says broken"), "the gate's output: {}", bounced[0]);
    // Three gate runs: fine, fragile (rejected), fragile fixed.
    assert_eq!(gate_runs(&env), 3);
    // The rejected tree never reached the integration branch.
    let versions = first_parent_versions(&env, "status.txt");
    assert_eq!(versions[0].as_deref(), Some("fixed\n"));
    assert!(versions.iter().flatten().all(|v| v == "fixed\n"), "{versions:?}");
    assert_eq!(integration_file(&env, "notes.txt").as_deref(), Some("fine\n"));
    let all = tasks(&env);
    assert!(all.iter().any(|t| t["id"] == fine.as_str()));
    // The gate ran in its scratch worktree: the user's checkout is untouched.
    assert!(!env.root().join("status.txt").exists());
    assert!(env.git(&["status", "--porcelain"]).stdout.is_empty());
}

#[test]
fn a_task_that_keeps_failing_its_gate_fails_after_max_bounces() {
    let env = sim_env("");
    edit_config(&env, "max_bounces = 5", "max_bounces = 2");
    set_gate(&env, "echo \"gate ran on $(git rev-parse HEAD)\"\necho 'tests: 1 failed'\nexit 1\n");
    let hopeless = add_task(&env, "hopeless", "");
    let before = env.git(&["rev-parse", "cw/integration"]).stdout;

    let (report, lines) = run_to_end(&env, 1);
    assert!(!report.all_merged());
    assert_eq!(report.unfinished.len(), 1, "{report:?}");
    assert_eq!(report.unfinished[0].state.to_string(), "failed");
    // Bounced twice back to its agent, then the third failure fails it.
    assert_eq!(gate_runs(&env), 3, "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("bounced back")).count(), 2, "{lines:#?}");
    let shown = env.cw(&["task", "show", &hopeless, "--json"]).json();
    assert_eq!(shown["state"], "failed");
    let reason = shown["failure_reason"].as_str().unwrap();
    assert!(reason.contains("bounced 3 times") && reason.contains("tests: 1 failed"), "{reason}");
    assert_eq!(env.git(&["rev-parse", "cw/integration"]).stdout, before);
    // A retry starts the count again: with the gate fixed, it merges.
    fs_err::write(env.outer().join("gate.sh"), "echo passing\n").unwrap();
    let retried = env.cw(&["task", "retry", &hopeless]);
    assert_eq!(retried.code, 0, "{retried:?}");
    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
}

#[test]
fn a_ref_moved_during_the_gate_is_kept_and_the_merge_recomputed_on_top() {
    let env = sim_env("");
    let marker = env.outer().join("moved-once");
    // The first time the gate runs, someone else commits to the integration branch.
    let script = format!(
        "echo \"gate ran on $(git rev-parse HEAD)\"\n\
         if [ ! -e {marker} ]; then\n\
           touch {marker}\n\
           export GIT_AUTHOR_NAME=other GIT_AUTHOR_EMAIL=o@x.invalid GIT_COMMITTER_NAME=other GIT_COMMITTER_EMAIL=o@x.invalid\n\
           c=$(git commit-tree 'cw/integration^{{tree}}' -p cw/integration -m 'someone else')\n\
           git update-ref refs/heads/cw/integration \"$c\"\n\
         fi\n",
        marker = marker.display()
    );
    set_gate(&env, &script);
    let task = add_task(&env, "racing", "");

    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    assert!(marker.exists());
    // Two gate runs: the first merge lost the race, the second was computed on the moved ref.
    assert_eq!(gate_runs(&env), 2, "{lines:#?}");
    let log = env.git(&["log", "--first-parent", "--format=%s", "cw/integration"]);
    let subjects: Vec<String> =
        String::from_utf8_lossy(&log.stdout).lines().map(str::to_owned).collect();
    assert!(subjects[0].starts_with("Merge cw/") && subjects[0].ends_with(&format!("({task})")));
    assert_eq!(subjects[1], "someone else", "the other commit was kept: {subjects:?}");
    assert_eq!(subjects.iter().filter(|s| s.starts_with("Merge cw/")).count(), 1);
    assert!(integration_file(&env, &format!("cw-sim/{task}.txt")).is_some());
    assert!(!Path::new(&env.root().join("cw-sim")).exists());
}
