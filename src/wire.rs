//! The JSON shapes of cw's contract, shared by `--json` output (and later MCP results).
//!
//! Changing a field here changes what scripts and agents rely on: record it in ARCHITECTURE.md.
//! Ids are strings (`"t12"`); states are the lower-case names of design.md §2; times are
//! RFC 3339 in UTC (`"2026-12-02T14:03:00.250Z"`); paths on disk are absolute, paths inside the
//! repository (a task's files, a merge's conflicts) relative to its root, as git names them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Timestamp;
use crate::service::{Claim, ImportReport, InitReport, Registration, StatusReport, TaskDetail};
use crate::store::{AgentRecord, TaskRecord};

/// A task as listed (`cw task list --json`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TaskJson {
    pub id: String,
    pub title: String,
    pub state: &'static str,
    pub depends_on: Vec<String>,
    pub plan: Option<String>,
    pub key: Option<String>,
    pub kind: String,
    pub needs_human: bool,
    pub priority: i64,
    pub wave: i64,
    pub attempts: u32,
    pub agent: Option<String>,
}

/// A task with everything known about it (`cw task show --json`, `cw task add --json`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TaskDetailJson {
    #[serde(flatten)]
    pub task: TaskJson,
    pub description: String,
    pub files: Vec<String>,
    pub verify: String,
    pub done: String,
    pub dependents: Vec<String>,
    pub phase: Option<String>,
    pub lease_expires_at: Option<String>,
    pub result_summary: Option<String>,
    pub failure_reason: Option<String>,
    /// Its newest merge request: `{state, commit, paths, reason}`.
    pub last_merge: Option<LastMergeJson>,
    pub metadata: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

/// A task's newest merge request.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LastMergeJson {
    /// `queued`, `merged`, `conflict` (bounced back to the agent) or `failed`.
    pub state: &'static str,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub paths: Vec<String>,
    pub reason: Option<String>,
}

/// `cw status --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatusJson {
    pub root: String,
    pub integration_branch: String,
    pub total: u64,
    pub counts: BTreeMap<&'static str, u64>,
    pub next_ready: Vec<TaskJson>,
    pub agents: Vec<AgentJson>,
    pub latest_event: i64,
    pub queued_merges: u64,
    pub open_questions: usize,
    pub recent_merges: Vec<MergeJson>,
    /// The hosts that run agents (`cw worker`), by name.
    pub hosts: Vec<HostJson>,
}

/// A host that runs agents (`cw worker list --json`, inside status).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HostJson {
    pub name: String,
    /// How many agents it runs at once, as it last said.
    pub agents: u32,
    /// The memory it has for agents (MiB), as it last said.
    pub memory_mb: u64,
    /// Its agents whose process runs.
    pub running: usize,
    /// When it was last heard from.
    pub last_seen: Option<String>,
    /// Not heard from for `[worker] lost_after_seconds`: its agents' leases run out.
    pub lost: bool,
}

impl From<&crate::service::HostStatus> for HostJson {
    fn from(status: &crate::service::HostStatus) -> HostJson {
        HostJson {
            name: status.host.name.clone(),
            agents: status.host.agents,
            memory_mb: status.host.memory_mb,
            running: status.running,
            last_seen: status.host.last_seen.map(Timestamp::rfc3339),
            lost: status.lost,
        }
    }
}

/// A finished merge request inside status.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MergeJson {
    pub task: String,
    pub title: String,
    /// `merged`, `conflict` (bounced back to the agent) or `failed`.
    pub state: &'static str,
    pub commit: Option<String>,
    pub paths: Vec<String>,
    /// Why it bounced or failed.
    pub reason: Option<String>,
    pub finished_at: Option<String>,
}

/// An agent (`cw agent list --json`, inside status).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AgentJson {
    pub id: String,
    pub name: String,
    pub state: &'static str,
    pub task: Option<String>,
    pub pid: Option<u32>,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    pub session_id: Option<String>,
    pub cost_usd: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub exit_status: Option<String>,
    /// The `cw worker` host it runs on; null for the coordinator's machine.
    pub host: Option<String>,
}

/// `cw agent register --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RegistrationJson {
    pub id: String,
    pub name: String,
    pub token: String,
    pub task: Option<String>,
}

/// `cw task claim --json` (null when nothing is ready).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ClaimJson {
    #[serde(flatten)]
    pub task: TaskJson,
    pub lease_expires_at: String,
    pub already_held: bool,
}

/// `cw init --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InitJson {
    pub root: String,
    pub cw_dir: String,
    pub integration_branch: String,
    pub branch_created: bool,
    /// In an existing `.cw/`: the files made again (nothing else was touched).
    pub repaired: Vec<String>,
    /// False when cw was set up already and nothing was missing.
    pub changed: bool,
}

/// `cw import --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ImportJson {
    pub initiative: String,
    /// The `.planning/` folder read.
    pub planning: String,
    pub title: String,
    pub dry_run: bool,
    pub phases: usize,
    pub plans: usize,
    pub tasks: ImportTaskCounts,
    pub states: BTreeMap<&'static str, usize>,
    pub edges_added: usize,
    pub edges_removed: usize,
    pub next_ready: Vec<TaskJson>,
    pub warnings: Vec<WarningJson>,
    pub skipped: Vec<String>,
    /// Files that could not be read, each a task for the human now.
    pub problems: Vec<String>,
    /// What became of each PLAN and SUMMARY file.
    pub files: Vec<FileJson>,
}

/// One file an import read or passed over.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FileJson {
    pub path: String,
    /// `imported`, `merged`, `read`, `skipped` or `problem`.
    pub outcome: &'static str,
    pub detail: String,
}

/// Task counts of an import.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ImportTaskCounts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub marked_merged: usize,
    pub removed: usize,
    pub needs_human: usize,
}

/// One import warning.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WarningJson {
    pub location: String,
    pub message: String,
}

impl TaskJson {
    /// The listed shape of `task` with its dependency ids.
    pub fn new(task: &TaskRecord, depends_on: &[crate::model::TaskId]) -> TaskJson {
        TaskJson {
            id: task.id.to_string(),
            title: task.title.clone(),
            state: task.state.as_str(),
            depends_on: depends_on.iter().map(ToString::to_string).collect(),
            plan: task.plan.map(|p| p.to_string()),
            key: task.key.clone(),
            kind: task.kind.clone(),
            needs_human: task.needs_human,
            priority: task.priority,
            wave: task.wave,
            attempts: task.attempts,
            agent: task.agent.map(|a| a.to_string()),
        }
    }
}

impl From<&TaskDetail> for TaskDetailJson {
    fn from(detail: &TaskDetail) -> TaskDetailJson {
        let task = &detail.task;
        let deps: Vec<_> = detail.dependencies.iter().map(|d| d.id).collect();
        TaskDetailJson {
            task: TaskJson::new(task, &deps),
            description: task.description.clone(),
            files: task.files.clone(),
            verify: task.verify.clone(),
            done: task.done_criteria.clone(),
            dependents: detail.dependents.iter().map(|d| d.id.to_string()).collect(),
            phase: detail.phase.as_ref().map(|p| p.id.to_string()),
            lease_expires_at: task.lease_expires_at.map(Timestamp::rfc3339),
            result_summary: task.result_summary.clone(),
            failure_reason: task.failure_reason.clone(),
            last_merge: detail.last_merge.as_ref().map(|m| LastMergeJson {
                state: m.state.as_str(),
                branch: m.branch.clone(),
                commit: m.commit.clone(),
                paths: m.paths.clone(),
                reason: m.detail.clone(),
            }),
            metadata: serde_json::from_str(&task.metadata).unwrap_or(serde_json::Value::Null),
            created_at: task.created_at.rfc3339(),
            updated_at: task.updated_at.rfc3339(),
        }
    }
}

impl From<&AgentRecord> for AgentJson {
    fn from(agent: &AgentRecord) -> AgentJson {
        AgentJson {
            id: agent.id.to_string(),
            name: agent.name.clone(),
            state: agent.state.as_str(),
            task: agent.task.or(agent.bound_task).map(|t| t.to_string()),
            pid: agent.process.map(|p| p.pid),
            worktree: agent.worktree.clone(),
            branch: agent.branch.clone(),
            session_id: agent.session_id.clone(),
            cost_usd: agent.usage.cost_usd,
            input_tokens: agent.usage.input_tokens,
            output_tokens: agent.usage.output_tokens,
            exit_status: agent.exit_status.clone(),
            host: agent.host.clone(),
        }
    }
}

impl StatusJson {
    /// The status shape.
    pub fn new(report: &StatusReport, root: String, integration_branch: String) -> StatusJson {
        StatusJson {
            root,
            integration_branch,
            total: report.total,
            counts: report.counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
            next_ready: report
                .next_ready
                .iter()
                .map(|t| {
                    TaskJson::new(t, report.next_ready_deps.get(&t.id).map_or(&[], Vec::as_slice))
                })
                .collect(),
            agents: report.agents.iter().map(AgentJson::from).collect(),
            latest_event: report.latest_event,
            hosts: report.hosts.iter().map(HostJson::from).collect(),
            queued_merges: report.queued_merges,
            open_questions: report.open_questions,
            recent_merges: report
                .recent_merges
                .iter()
                .map(|m| MergeJson {
                    task: m.task.to_string(),
                    title: m.title.clone(),
                    state: m.state.as_str(),
                    commit: m.commit.clone(),
                    paths: m.paths.clone(),
                    reason: m.reason.clone(),
                    finished_at: m.finished_at.map(Timestamp::rfc3339),
                })
                .collect(),
        }
    }
}

impl From<&Registration> for RegistrationJson {
    fn from(registration: &Registration) -> RegistrationJson {
        RegistrationJson {
            id: registration.agent.id.to_string(),
            name: registration.agent.name.clone(),
            token: registration.token.clone(),
            task: registration.agent.task.map(|t| t.to_string()),
        }
    }
}

impl From<&Claim> for ClaimJson {
    fn from(claim: &Claim) -> ClaimJson {
        ClaimJson {
            task: TaskJson::new(&claim.task, &[]),
            lease_expires_at: claim.lease.expires_at.rfc3339(),
            already_held: claim.already_held,
        }
    }
}

impl From<&InitReport> for InitJson {
    fn from(report: &InitReport) -> InitJson {
        InitJson {
            root: report.root.display().to_string(),
            cw_dir: report.cw_dir.display().to_string(),
            integration_branch: report.integration_branch.clone(),
            branch_created: report.branch_created,
            repaired: report.repaired.iter().map(|p| p.display().to_string()).collect(),
            changed: !report.unchanged,
        }
    }
}

impl From<&ImportReport> for ImportJson {
    fn from(report: &ImportReport) -> ImportJson {
        ImportJson {
            initiative: report.initiative.clone(),
            planning: report.planning_dir.display().to_string(),
            title: report.initiative_title.clone(),
            dry_run: report.dry_run,
            phases: report.phases,
            plans: report.plans,
            tasks: ImportTaskCounts {
                created: report.tasks_created,
                updated: report.tasks_updated,
                unchanged: report.tasks_unchanged,
                marked_merged: report.tasks_marked_merged,
                removed: report.tasks_removed,
                needs_human: report.needs_human,
            },
            states: report.state_counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
            edges_added: report.edges_added,
            edges_removed: report.edges_removed,
            next_ready: report
                .next_ready
                .iter()
                .map(|t| {
                    let deps =
                        report.next_ready_depends_on.get(&t.id).map_or(&[][..], Vec::as_slice);
                    TaskJson::new(t, deps)
                })
                .collect(),
            warnings: report
                .warnings
                .iter()
                .map(|w| WarningJson { location: w.location.clone(), message: w.message.clone() })
                .collect(),
            skipped: report.skipped.clone(),
            problems: report.problems.clone(),
            files: report
                .files
                .iter()
                .map(|f| FileJson {
                    path: report.planning_dir.join(&f.path).display().to_string(),
                    outcome: f.outcome,
                    detail: f.detail.clone(),
                })
                .collect(),
        }
    }
}

/// The work `claim_task` hands an agent.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WorkJson {
    pub task_id: String,
    pub title: String,
    /// `claimed`, `waiting` or `conflict` (then merge the integration branch and resolve).
    pub state: &'static str,
    pub action: String,
    pub files: Vec<String>,
    pub verify: String,
    pub done: String,
    pub needs_human: bool,
    pub plan: Option<PlanContextJson>,
    pub phase: Option<String>,
    pub dependencies: Vec<DependencyResultJson>,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    /// The branch your work merges into.
    pub integration_branch: String,
    pub lease_expires_at: String,
    pub already_held: bool,
}

/// The plan a task belongs to.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlanContextJson {
    pub id: String,
    pub key: Option<String>,
    pub title: String,
    pub description: String,
}

/// What a dependency's agent reported.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DependencyResultJson {
    pub task_id: String,
    pub title: String,
    pub state: &'static str,
    pub summary: Option<String>,
}

/// A question for the human (`cw inbox --json`, `list_questions`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QuestionJson {
    pub id: String,
    pub agent: Option<String>,
    pub task: Option<String>,
    pub question: String,
    pub options: Vec<String>,
    pub status: &'static str,
    pub answer: Option<String>,
    /// `cli`, `mcp` or `file` (how the human answered), once answered.
    pub answered_by: Option<String>,
    pub asked_at: String,
    pub answered_at: Option<String>,
}

/// A message for an agent.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MessageJson {
    pub id: String,
    pub from: String,
    pub body: String,
    pub sent_at: String,
}

impl From<&crate::service::ClaimedWork> for WorkJson {
    fn from(work: &crate::service::ClaimedWork) -> WorkJson {
        let task = &work.claim.task;
        WorkJson {
            task_id: task.id.to_string(),
            title: task.title.clone(),
            state: task.state.as_str(),
            action: task.description.clone(),
            files: task.files.clone(),
            verify: task.verify.clone(),
            done: task.done_criteria.clone(),
            needs_human: task.needs_human,
            plan: work.detail.plan.as_ref().map(|p| PlanContextJson {
                id: p.id.to_string(),
                key: p.key.clone(),
                title: p.title.clone(),
                description: p.description.clone(),
            }),
            phase: work.detail.phase.as_ref().map(|p| format!("Phase {}: {}", p.number, p.title)),
            dependencies: work
                .detail
                .dependencies
                .iter()
                .map(|d| DependencyResultJson {
                    task_id: d.id.to_string(),
                    title: d.title.clone(),
                    state: d.state.as_str(),
                    summary: d.result_summary.clone(),
                })
                .collect(),
            worktree: work.worktree.clone(),
            branch: work.branch.clone(),
            integration_branch: work.integration.clone(),
            lease_expires_at: work.claim.lease.expires_at.rfc3339(),
            already_held: work.claim.already_held,
        }
    }
}

impl From<&crate::store::QuestionRecord> for QuestionJson {
    fn from(q: &crate::store::QuestionRecord) -> QuestionJson {
        QuestionJson {
            id: q.id.to_string(),
            agent: q.agent.map(|a| a.to_string()),
            task: q.task.map(|t| t.to_string()),
            question: q.question.clone(),
            options: q.options.clone(),
            status: q.status.as_str(),
            answer: q.answer.clone(),
            answered_by: q.answered_by.clone(),
            asked_at: q.asked_at.rfc3339(),
            answered_at: q.answered_at.map(Timestamp::rfc3339),
        }
    }
}

impl From<&crate::store::MessageRecord> for MessageJson {
    fn from(m: &crate::store::MessageRecord) -> MessageJson {
        MessageJson {
            id: m.id.to_string(),
            from: m.sender.clone(),
            body: m.body.clone(),
            sent_at: m.created_at.rfc3339(),
        }
    }
}

/// What `POST /hosts/hello` answers a worker (its token traded for where the state is).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WorkerHelloJson {
    pub name: String,
    pub store_url: String,
    pub integration_branch: String,
    pub heartbeat_seconds: u64,
    pub lost_after_seconds: u64,
    /// The claims' lease and attempts: the same rules for agents on every host.
    pub lease_seconds: u64,
    pub max_attempts: u32,
}

impl From<crate::service::WorkerHello> for WorkerHelloJson {
    fn from(hello: crate::service::WorkerHello) -> WorkerHelloJson {
        WorkerHelloJson {
            name: hello.name,
            store_url: hello.store_url,
            integration_branch: hello.integration_branch,
            heartbeat_seconds: hello.heartbeat_seconds,
            lost_after_seconds: hello.lost_after_seconds,
            lease_seconds: hello.lease_seconds,
            max_attempts: hello.max_attempts,
        }
    }
}

impl From<WorkerHelloJson> for crate::service::WorkerHello {
    fn from(hello: WorkerHelloJson) -> crate::service::WorkerHello {
        crate::service::WorkerHello {
            name: hello.name,
            store_url: hello.store_url,
            integration_branch: hello.integration_branch,
            heartbeat_seconds: hello.heartbeat_seconds,
            lost_after_seconds: hello.lost_after_seconds,
            lease_seconds: hello.lease_seconds,
            max_attempts: hello.max_attempts,
        }
    }
}
