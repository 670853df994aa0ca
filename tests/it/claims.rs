//! Claims: atomic across processes, leased, idempotent; expiry, renewal, release, reporting.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use cw::model::{ReportOutcome, TaskId, TaskState};
use cw::service::{AddTask, Clock, Service, ServiceError};

use crate::support::{TestEnv, tool_binary};

fn add(service: &Service, title: &str) -> TaskId {
    service
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask { title: title.to_owned(), ..AddTask::default() },
        )
        .unwrap()
        .id
}

fn manual_clock(env: &TestEnv) -> (Service, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(1_000_000));
    (env.service().with_clock(Clock::Manual(now.clone())), now)
}

#[test]
fn claim_is_ordered_idempotent_and_returns_nothing_when_nothing_is_ready() {
    let env = TestEnv::initialised();
    let service = env.service();
    let low = add(&service, "later");
    let urgent = service
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask { title: "urgent".into(), priority: Some(0), ..AddTask::default() },
        )
        .unwrap()
        .id;
    let agent = service.register_agent("a", None).unwrap().agent.id;
    let first = service.claim(agent).unwrap().unwrap();
    assert_eq!(first.task.id, urgent, "priority 0 is dispatched first");
    assert!(!first.already_held);
    let again = service.claim(agent).unwrap().unwrap();
    assert_eq!(again.task.id, urgent);
    assert!(again.already_held, "claiming again returns the held task");
    service.report_done(agent, urgent, ReportOutcome::Done, "ok").unwrap();
    assert_eq!(service.claim(agent).unwrap().unwrap().task.id, low);
    service.report_done(agent, low, ReportOutcome::Done, "ok").unwrap();
    assert!(service.claim(agent).unwrap().is_none(), "nothing ready is not an error");
}

#[test]
fn tasks_for_the_human_and_tasks_of_bound_agents_are_not_handed_out() {
    let env = TestEnv::initialised();
    let service = env.service();
    let first = add(&service, "one");
    let second = add(&service, "two");
    let bound = service.register_agent("bound", Some(second)).unwrap().agent.id;
    assert_eq!(
        service.claim(bound).unwrap().unwrap().task.id,
        second,
        "a bound agent gets its own task"
    );
    service.report_done(bound, second, ReportOutcome::Done, "ok").unwrap();
    assert!(service.claim(bound).unwrap().is_none(), "a bound agent never takes another task");
    let free = service.register_agent("free", None).unwrap().agent.id;
    assert_eq!(service.claim(free).unwrap().unwrap().task.id, first);
}

#[test]
fn reports_are_refused_for_tasks_of_other_agents() {
    let env = TestEnv::initialised();
    let service = env.service();
    let task = add(&service, "mine");
    let owner = service.register_agent("owner", None).unwrap().agent.id;
    let other = service.register_agent("other", None).unwrap().agent.id;
    service.claim(owner).unwrap().unwrap();
    let err = service.report_done(other, task, ReportOutcome::Done, "stolen").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("task {task} is not held by agent {other}; an agent may only act on its own task")
    );
    let err = service.release(other, task).unwrap_err();
    assert!(matches!(err, ServiceError::NotYourTask { .. }));
    let failed = service
        .report_done(owner, task, ReportOutcome::Failed, "the tests do not compile")
        .unwrap();
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some("the tests do not compile"));
    let err = service.report_done(owner, task, ReportOutcome::Done, "again").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "task {task}: a failed task cannot be reported done (only a claimed task can be reported on)"
        )
    );
}

#[test]
fn expired_leases_return_tasks_until_attempts_run_out() {
    let env = TestEnv::initialised();
    env.write(".cw/config.toml", "[claims]\nlease_seconds = 10\nmax_attempts = 2\n");
    let (service, now) = manual_clock(&env);
    let task = add(&service, "flaky");
    for attempt in 1..=2 {
        let agent = service.register_agent(&format!("agent-{attempt}"), None).unwrap().agent.id;
        let claim = service.claim(agent).unwrap().unwrap();
        assert_eq!(claim.task.id, task);
        assert_eq!(claim.task.attempts, attempt - 1);
        now.fetch_add(9_999, Ordering::SeqCst);
        assert!(service.expire_leases().unwrap().is_empty(), "not expired one millisecond early");
        now.fetch_add(1, Ordering::SeqCst);
        assert_eq!(service.expire_leases().unwrap(), vec![(task, TaskState::Ready)]);
        let record = service.task(task).unwrap().task;
        assert_eq!(
            (record.state, record.attempts, record.agent),
            (TaskState::Ready, attempt, None)
        );
    }
    let last = service.register_agent("last", None).unwrap().agent.id;
    service.claim(last).unwrap().unwrap();
    now.fetch_add(10_000, Ordering::SeqCst);
    assert_eq!(service.expire_leases().unwrap(), vec![(task, TaskState::Failed)]);
    let record = service.task(task).unwrap().task;
    assert_eq!(record.attempts, 3);
    assert!(
        record.failure_reason.unwrap().contains("the lease expired 3 times (max_attempts = 2)")
    );
    let retried = service.retry_task(&cw::service::Caller::CLI, task).unwrap().task;
    assert_eq!(
        (retried.state, retried.attempts, retried.failure_reason),
        (TaskState::Ready, 0, None)
    );
}

#[test]
fn renewing_keeps_a_lease_alive_and_releasing_costs_no_attempt() {
    let env = TestEnv::initialised();
    env.write(".cw/config.toml", "[claims]\nlease_seconds = 10\n");
    let (service, now) = manual_clock(&env);
    let task = add(&service, "long");
    let agent = service.register_agent("a", None).unwrap().agent.id;
    service.claim(agent).unwrap().unwrap();
    now.fetch_add(9_000, Ordering::SeqCst);
    service.renew_lease(agent, task).unwrap();
    now.fetch_add(9_000, Ordering::SeqCst);
    assert!(service.expire_leases().unwrap().is_empty(), "the renewal moved the deadline");
    // Claiming again also renews (every call from the agent keeps its lease).
    service.claim(agent).unwrap().unwrap();
    now.fetch_add(9_000, Ordering::SeqCst);
    assert!(service.expire_leases().unwrap().is_empty());
    let released = service.release(agent, task).unwrap();
    assert_eq!((released.state, released.attempts, released.agent), (TaskState::Ready, 0, None));
    let stranger = service.register_agent("b", None).unwrap().agent.id;
    assert!(matches!(service.renew_lease(stranger, task), Err(ServiceError::NotYourTask { .. })));
}

#[test]
fn a_claim_needs_a_valid_token() {
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "x"]).ok();
    let root = env.root();
    let run = env.cw(&["task", "claim"]);
    assert_eq!(
        run.error(1),
        "error: no token given: set CW_TOKEN to an agent token (from `cw agent register --json`)"
    );
    let run = env.cw_with(&root, &["task", "claim"], &[("CW_TOKEN", "cwa_bogus")]);
    assert_eq!(
        run.error(1),
        "error: the token is not valid for this repository (register with `cw agent register`)"
    );
    let registration = env.cw(&["agent", "register", "--name", "scripted", "--json"]).json();
    let token = registration["token"].as_str().unwrap();
    assert!(token.starts_with("cwa_"));
    let claim = env.cw_with(&root, &["task", "claim", "--json"], &[("CW_TOKEN", token)]).json();
    assert_eq!(claim["id"], "t1");
    assert_eq!(claim["state"], "claimed");
    let again = env.cw_with(&root, &["task", "claim", "--json"], &[("CW_TOKEN", token)]).json();
    assert_eq!(again["already_held"], true);
    let db = match env.database() {
        Some(url) => crate::support::postgres::run(
            url,
            "SELECT a::text FROM agents a UNION ALL SELECT e::text FROM events e",
        )
        .concat()
        .into_bytes(),
        None => fs_err::read(root.join(".cw/cw.db")).unwrap(),
    };
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token itself must never be stored"
    );
}

/// 32 OS processes race for one ready task: exactly one wins, the rest get "nothing ready".
#[test]
fn thirty_two_processes_race_for_one_task() {
    let env = TestEnv::initialised();
    let service = env.service();
    add(&service, "the only task");
    let tokens: Vec<String> = (0..32)
        .map(|i| service.register_agent(&format!("racer-{i}"), None).unwrap().token)
        .collect();
    let root = env.root();
    let children: Vec<_> = tokens
        .iter()
        .map(|token| {
            let mut command = env.cw_command(&root, &["task", "claim", "--json"]);
            command.env("CW_TOKEN", token).stdout(Stdio::piped()).stderr(Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    let mut winners = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        if !value.is_null() {
            assert_eq!(value["id"], "t1");
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

/// 16 OS processes drain 2,000 tasks: every task is claimed exactly once and none is lost.
#[test]
fn sixteen_processes_drain_two_thousand_tasks() {
    let env = TestEnv::initialised();
    let service = env.service();
    for i in 0..2_000 {
        add(&service, &format!("task {i}"));
    }
    let go = env.root().join(".cw/go");
    let worker = tool_binary("claim_worker");
    assert!(worker.exists(), "{} is missing: cargo test builds examples", worker.display());
    let children: Vec<_> = (0..16)
        .map(|_| {
            crate::support::tool_command("claim_worker")
                .arg(env.root())
                .arg(&go)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    fs_err::write(&go, "").unwrap();
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut busy_workers = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "worker failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let ids: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("done ")).collect();
        if !ids.is_empty() {
            busy_workers += 1;
        }
        for id in ids {
            *claimed.entry(id.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(claimed.len(), 2_000, "every task claimed");
    assert!(claimed.values().all(|&n| n == 1), "a task was claimed twice");
    assert!(busy_workers > 1, "the work was not shared between processes");
    let status = service.status(&cw::service::Caller::CLI, 1).unwrap();
    assert_eq!(status.counts, vec![(TaskState::Done, 2_000)]);
}
