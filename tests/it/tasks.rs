//! Tasks below the CLI: validation, dependency rules, and one event per state change.

use cw::model::{ReportOutcome, TaskId, TaskState};
use cw::service::{AddTask, MAX_TITLE_CHARS, PlanRef, ServiceError};

use crate::support::TestEnv;

fn add_after(service: &cw::service::Service, title: &str, after: &[TaskId]) -> TaskId {
    service
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask { title: title.to_owned(), after: after.to_vec(), ..AddTask::default() },
        )
        .unwrap()
        .id
}

#[test]
fn oversized_and_empty_inputs_are_refused_and_nothing_is_written() {
    let env = TestEnv::initialised();
    let service = env.service();
    let long = "x".repeat(MAX_TITLE_CHARS + 1);
    let err = service
        .add_task(&cw::service::Caller::CLI, &AddTask { title: long, ..AddTask::default() })
        .unwrap_err();
    assert!(err.to_string().contains("the limit is 500"), "{err}");
    let err = service
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask {
                title: "ok".into(),
                description: "y".repeat(300 * 1024),
                ..AddTask::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("the limit is 262144"), "{err}");
    let err = service
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask { title: "ok".into(), after: vec![TaskId(41)], ..AddTask::default() },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "task t41 does not exist (see `cw task list`)");
    assert_eq!(
        service.status(&cw::service::Caller::CLI, 1).unwrap().total,
        0,
        "a refused add wrote nothing"
    );
}

#[test]
fn a_started_task_takes_no_new_dependencies() {
    let env = TestEnv::initialised();
    let service = env.service();
    let first = add_after(&service, "first", &[]);
    let second = add_after(&service, "second", &[]);
    let agent = service.register_agent("a", None).unwrap().agent.id;
    let claimed = service.claim(agent).unwrap().unwrap().task.id;
    assert_eq!(claimed, first);
    let err = service.add_dependency(first, second).unwrap_err();
    assert!(
        matches!(err, ServiceError::DependencyOnStartedTask { state: TaskState::Claimed, .. }),
        "{err}"
    );
    // The other direction is fine: a ready task may wait for a claimed one.
    let change = service.add_dependency(second, first).unwrap();
    assert_eq!(change.task.state, TaskState::Pending);
}

#[test]
fn done_is_not_merged_so_dependents_stay_pending() {
    let env = TestEnv::initialised();
    let service = env.service();
    let first = add_after(&service, "first", &[]);
    let second = add_after(&service, "second", &[first]);
    let agent = service.register_agent("a", None).unwrap().agent.id;
    service.claim(agent).unwrap().unwrap();
    service.report_done(agent, first, ReportOutcome::Done, "did it").unwrap();
    let detail = service.task(second).unwrap();
    assert_eq!(detail.task.state, TaskState::Pending, "ready only when every dependency is merged");
    assert_eq!(detail.dependencies[0].state, TaskState::Done);
    assert!(service.claim(agent).unwrap().is_none());
}

#[test]
fn every_state_change_appends_one_event_in_the_same_transaction() {
    let env = TestEnv::initialised();
    let service = env.service();
    let before = service.status(&cw::service::Caller::CLI, 0).unwrap().latest_event;
    let first = add_after(&service, "first", &[]);
    let second = add_after(&service, "second", &[]);
    service.add_dependency(second, first).unwrap(); // dep_added + ready → pending
    service.cancel_task(&cw::service::Caller::CLI, first).unwrap(); // ready → cancelled
    let store = env.store();
    let events = store.read(|tx| tx.events_after(before, 100)).unwrap();
    let kinds: Vec<(String, Option<String>)> =
        events.iter().map(|e| (e.kind.clone(), e.task.map(|t| t.to_string()))).collect();
    let expected: Vec<(String, Option<String>)> = [
        ("task.created", "t1"),
        ("task.created", "t2"),
        ("task.dep_added", "t2"),
        ("task.state", "t2"),
        ("task.state", "t1"),
    ]
    .iter()
    .map(|(k, t)| ((*k).to_owned(), Some((*t).to_owned())))
    .collect();
    assert_eq!(kinds, expected);
    let last: serde_json::Value = serde_json::from_str(&events[4].data).unwrap();
    assert_eq!(
        last,
        serde_json::json!({ "from": "ready", "to": "cancelled", "reason": "cancelled by the operator" })
    );
}

#[test]
fn plans_are_found_by_id_or_by_key() {
    let env = TestEnv::initialised();
    env.write("plan/ROADMAP.md", "# Roadmap: P\n\n### Phase 1: One\n**Goal**: g\n");
    env.write("plan/phases/01-one/01-01-PLAN.md", "---\nphase: 01-one\nplan: 01\nwave: 1\ndepends_on: []\n---\n<objective>Do it.</objective>\n<tasks><task type=\"auto\"><name>A</name><action>a</action></task></tasks>\n");
    let service = env.service();
    service.import(&env.root().join("plan"), &Default::default()).unwrap();
    for reference in [
        PlanRef::Key("01-01".into()),
        PlanRef::Key("1-1".into()),
        PlanRef::Id("p1".parse().unwrap()),
    ] {
        let task = service
            .add_task(
                &cw::service::Caller::CLI,
                &AddTask {
                    title: "extra".into(),
                    plan: Some(reference.clone()),
                    ..AddTask::default()
                },
            )
            .unwrap();
        assert_eq!(task.plan.map(|p| p.to_string()).as_deref(), Some("p1"), "{reference:?}");
    }
    let err = service
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask {
                title: "x".into(),
                plan: Some(PlanRef::Key("09-09".into())),
                ..AddTask::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, ServiceError::PlanNotFound(_)));
}
