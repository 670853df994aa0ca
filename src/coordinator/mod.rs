//! The coordinator: `cw run`'s loop. It dispatches ready tasks to agents, resumes agents that
//! have something to hear (an answer, a bounce) or lost their process, merges the queue into the
//! integration branch and stops everything on shutdown.
//!
//! Owns: the one event loop (`next_event` → `handle_event`, style.md R14) and the set of agent
//! processes this `cw run` supervises.
//! Must not: decide task transitions (the service does), speak SQL or git2 (service, git),
//! signal processes itself (the agent runtime and process module do), or print (it reports
//! through `Progress`).
//! Invariant: everything it knows survives in the database; a restarted coordinator rebuilds its
//! state from there and from the agents' pids and logs.

mod dispatch;
mod error;
mod merge;
mod starter;

pub use error::CoordinatorError;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::agent::stream::{StreamEvent, short_tool};
use crate::agent::{AgentExit, AgentRuntime, Continuation, LiveAgent};
use crate::model::{AgentId, AgentKind, AgentState, QuestionId, TaskId, TaskState};
use crate::notifications::{Notice, Notifier};
use crate::service::{Delivery, ExitKind, MergeLine, Overview, Service};
use crate::store::ChangeWatch;

/// How a `cw run` behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Agents working at once.
    pub agents: usize,
    /// Start agents at all (`--no-dispatch` serves MCP only).
    pub dispatch: bool,
    /// Merge the queue and ask the human about checkpoints: the coordinator does, a worker
    /// (`cw worker`, which only runs agents) does not.
    pub merge: bool,
    /// Return once every task is merged, or nothing more can happen without the human.
    pub exit_when_done: bool,
    /// Leave agents running at shutdown (a later `cw run` adopts them).
    pub keep_agents: bool,
    /// How often the loop looks at agents' output and other processes' writes while agents
    /// run (every agent's merge request waits up to this long to be seen).
    pub poll: Duration,
    /// The same with no agent running: only the human's commands can change anything.
    pub idle_poll: Duration,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            agents: 4,
            dispatch: true,
            merge: true,
            exit_when_done: false,
            keep_agents: false,
            poll: Duration::from_millis(5),
            idle_poll: Duration::from_millis(50),
        }
    }
}

/// Where the coordinator reports what happens (the terminal, a log, a test).
pub trait Progress {
    /// Something happened (an agent started, a merge, a bounce, a question…).
    fn line(&mut self, text: &str);
    /// The current picture; called whenever it may have changed.
    fn snapshot(&mut self, snapshot: &Snapshot);
    /// The run ended.
    fn finish(&mut self, _report: &RunReport) {}
}

/// The picture `cw run` shows: tasks by state, running agents, merges and questions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub counts: Vec<(TaskState, u64)>,
    pub total: u64,
    pub agents: Vec<AgentLine>,
    pub queued_merges: u64,
    pub open_questions: usize,
    /// Ready tasks that wait for the human, not an agent.
    pub for_you: u64,
    /// The newest finished merges (merged or bounced), newest first.
    pub recent_merges: Vec<MergeLine>,
    /// Why no more agents start right now, if that is the case.
    pub paused: Option<String>,
    /// The `cw worker` hosts: each one's agents running, capacity, and whether it is lost.
    pub hosts: Vec<HostLine>,
}

/// One host in the live view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLine {
    pub name: String,
    pub running: usize,
    pub capacity: u32,
    pub lost: bool,
}

/// One running agent in the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentLine {
    pub agent: AgentId,
    pub task: Option<TaskId>,
    pub title: String,
    pub last_action: String,
}

/// A task a run leaves unmerged.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub task: TaskId,
    pub state: TaskState,
    pub why: String,
    /// It waits for the human, who answers this question (a checkpoint, a task for them).
    pub for_you: Option<QuestionId>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub merged: u64,
    pub total: u64,
    /// Tasks not merged, with their state and why.
    pub unfinished: Vec<Unfinished>,
    /// True when the run stopped because a signal asked it to.
    pub interrupted: bool,
}

impl RunReport {
    /// Every task merged.
    pub fn all_merged(&self) -> bool {
        self.unfinished.is_empty() && !self.interrupted
    }
}

/// Everything the loop reacts to (R14): one match handles them all.
#[derive(Debug)]
enum Event {
    /// Something changed in the database (any process).
    Changed,
    /// An agent wrote to its stream.
    Output { agent: AgentId, task: Option<TaskId>, events: Vec<StreamEvent> },
    /// An agent's process ended.
    Exited(Box<AgentExit>),
    /// Time passed with nothing else happening.
    Tick,
    /// Stop (a signal, or the caller).
    Shutdown,
}

/// The coordinator of one repository.
pub struct Coordinator<'p> {
    /// Tells the human when they are needed (questions, failures, the end).
    notifier: Notifier,
    runtime: Arc<AgentRuntime>,
    /// Agent starts run on its worker threads.
    starter: starter::Starter,
    service: Arc<Service>,
    options: RunOptions,
    live: BTreeMap<AgentId, LiveAgent>,
    watch: ChangeWatch,
    queue: VecDeque<Event>,
    shutdown: CancellationToken,
    progress: &'p mut dyn Progress,
    last_tick: Instant,
    paused: Option<String>,
    last_snapshot: Option<Snapshot>,
    /// Something the snapshot shows may have changed since it was last published.
    snapshot_due: bool,
    last_published: Instant,
    /// When the agents' output was last read.
    output_read: Instant,
    /// The newest overview read (tasks by state, merges, questions).
    overview: Option<Overview>,
    /// Titles of the tasks agents work on, for the snapshot (read once per task).
    titles: BTreeMap<TaskId, String>,
    /// Tasks whose agent could not be started this run (not retried until something changes).
    failed_starts: BTreeMap<TaskId, String>,
    /// Agents whose merged worktree is removed when the loop is idle (removing a worktree and
    /// its branch costs more than starting an agent, and must not delay the next start), or
    /// reused by a new agent meanwhile (`take_spare`).
    tidy_later: BTreeSet<AgentId>,
    /// Why merges wait (the integration branch is checked out somewhere), once reported.
    merges_held: Option<String>,
}

/// How often the loop does its periodic work (lease expiry, memory check) when idle.
const TICK: Duration = Duration::from_millis(500);
/// How many recent merges the live status block shows.
const SNAPSHOT_MERGES: usize = 3;
/// The live status block is redrawn at most this often: building it reads the database, and a
/// busy run changes it hundreds of times a second.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(100);
/// Agents' output (the tools they call, for the progress lines) is read at most this often;
/// their ends are looked for at every pass. Reading every agent's log at every pass cost more
/// than everything else the loop does while it waits; only a merge waits on it (what an agent
/// did is printed before the merge it caused: `catch_up_on_output`).
const OUTPUT_EVERY: Duration = Duration::from_millis(50);

impl<'p> Coordinator<'p> {
    /// A coordinator over `runtime`'s repository. `shutdown` ends `run` gracefully.
    pub fn new(
        runtime: AgentRuntime,
        options: RunOptions,
        shutdown: CancellationToken,
        progress: &'p mut dyn Progress,
    ) -> Result<Coordinator<'p>, CoordinatorError> {
        let service = Arc::clone(runtime.service());
        let watch = service.watch_changes()?;
        let runtime = Arc::new(runtime);
        let threaded = !service.config().agent.setup_command.trim().is_empty();
        let starter = starter::Starter::new(&runtime, threaded)?;
        let notifier = Notifier::new(&service)?;
        Ok(Coordinator {
            runtime,
            starter,
            service,
            options,
            live: BTreeMap::new(),
            watch,
            queue: VecDeque::new(),
            shutdown,
            progress,
            last_tick: Instant::now(),
            paused: None,
            last_snapshot: None,
            snapshot_due: true,
            last_published: Instant::now(),
            output_read: Instant::now(),
            overview: None,
            titles: BTreeMap::new(),
            failed_starts: BTreeMap::new(),
            tidy_later: BTreeSet::new(),
            merges_held: None,
            notifier,
        })
    }

    /// Runs until shutdown (or, with `exit_when_done`, until nothing is left to do).
    pub fn run(mut self) -> Result<RunReport, CoordinatorError> {
        // A bad, missing or checked-out integration branch fails the run once, here, instead of
        // every task one by one.
        self.service.check_integration_branch()?;
        self.recover()?;
        loop {
            match self.turn() {
                Ok(Some(report)) => return Ok(report),
                Ok(None) => {}
                // Every step is idempotent: once the database is back, the next one redoes it.
                Err(err) if err.is_transient() => {
                    self.wait_for_the_database(&err);
                    self.queue.push_back(Event::Tick);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// One event handled; the report once the run is over.
    fn turn(&mut self) -> Result<Option<RunReport>, CoordinatorError> {
        let event = self.next_event()?;
        debug!(?event, "coordinator event");
        if matches!(event, Event::Shutdown) {
            self.stop_all()?;
            self.tidy_all();
            self.publish_snapshot()?;
            let mut report = self.report()?;
            report.interrupted = true;
            self.notify_end(&report)?;
            return Ok(Some(report));
        }
        self.handle_event(event)?;
        self.notify_due()?;
        if self.options.exit_when_done && self.finished()? {
            self.stop_all()?;
            self.tidy_all();
            self.publish_snapshot()?;
            let report = self.report()?;
            self.notify_end(&report)?;
            return Ok(Some(report));
        }
        Ok(None)
    }

    /// The database is out of reach (a PostgreSQL server restarting): says so, and pauses
    /// before the next try (each try waits up to the busy timeout for a connection).
    fn wait_for_the_database(&mut self, err: &CoordinatorError) {
        tracing::warn!(%err, "the database is out of reach; trying again");
        self.progress.line(&format!("waiting for the database: {err}"));
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Shows (and hands to `[notify] command`) what the human is needed for, spaced out.
    fn notify_due(&mut self) -> Result<(), CoordinatorError> {
        if let Some(notice) = self.notifier.poll(&self.service)? {
            let line = self.notifier.deliver(&notice, false);
            self.progress.line(&line);
        }
        Ok(())
    }

    /// The last notice: what is still pending, and that the run ended.
    fn notify_end(&mut self, report: &RunReport) -> Result<(), CoordinatorError> {
        self.notifier.poll(&self.service)?;
        let message = format!(
            "the run ended{}: {} of {} tasks merged",
            if report.interrupted { " (stopped)" } else { "" },
            report.merged,
            report.total
        );
        self.notifier.push(Notice::plain("finished", message));
        if let Some(notice) = self.notifier.take(true) {
            let line = self.notifier.deliver(&notice, true);
            self.progress.line(&line);
        }
        Ok(())
    }

    /// After a start: adopt agents that still run, record the end of those that do not, stop
    /// agent processes nobody recorded (a cw killed mid-spawn).
    fn recover(&mut self) -> Result<(), CoordinatorError> {
        self.service.remove_half_removed_worktrees();
        let (live, ended) = self.runtime.adopt_all()?;
        for agent in live {
            self.progress.line(&format!(
                "adopted {} (pid {}), still running",
                agent.agent,
                agent.pid()
            ));
            self.live.insert(agent.agent, agent);
        }
        for exit in ended {
            self.progress
                .line(&format!("{} ended while cw was away: {}", exit.agent.id, exit.status));
        }
        for agent in self.service.own_agents()? {
            // One agent's leftovers (a lock, a half-made worktree) must not stop the whole run:
            // its task fails to start and is retried, then failed, like any start.
            if let Err(err) = self.recover_agent(&agent) {
                warn!(agent_id = %agent.id, cause = %err, "could not clean up after a stopped cw");
                self.progress.line(&format!(
                    "{}: could not clean up after cw stopped ({err}); going on without it",
                    agent.id
                ));
            }
        }
        self.step()
    }

    /// Recovers one agent after a start: discards one cw never started, tidies a worktree whose
    /// process is gone, stops process groups nobody recorded, records a lost process's end.
    fn recover_agent(&mut self, agent: &crate::store::AgentRecord) -> Result<(), CoordinatorError> {
        if self.runtime.discard_unstarted(agent)? {
            self.progress.line(&format!(
                "{} never started (cw stopped while preparing it); cleaned up",
                agent.id
            ));
            return Ok(());
        }
        if agent.process.is_none() && agent.worktree.is_some() {
            self.tidy(agent.id);
            let stopped = match agent.kind {
                AgentKind::Managed => self.runtime.stop_unrecorded(agent.id)?,
                AgentKind::Registered | AgentKind::Bare => 0,
            };
            if stopped > 0 {
                self.progress.line(&format!(
                    "stopped {stopped} unrecorded process group(s) of {}",
                    agent.id
                ));
            }
            // Killed between resuming the agent and recording its new process: it still
            // looks alive, and a live agent cannot be resumed. Its process is gone now.
            if matches!(
                agent.state,
                AgentState::Starting | AgentState::Running | AgentState::Waiting
            ) {
                let why = "its process was lost when cw stopped";
                self.service.record_agent_exit(agent.id, ExitKind::Crashed, why)?;
                self.progress.line(&format!("{}: {why}", agent.id));
            }
        }
        Ok(())
    }

    fn next_event(&mut self) -> Result<Event, CoordinatorError> {
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(Event::Shutdown);
            }
            if let Some(event) = self.queue.pop_front() {
                return Ok(event);
            }
            self.poll_agents()?;
            if !self.queue.is_empty() {
                continue;
            }
            if self.watch.poll()?.is_some() {
                return Ok(Event::Changed);
            }
            if self.last_tick.elapsed() >= TICK {
                self.last_tick = Instant::now();
                return Ok(Event::Tick);
            }
            if self.snapshot_due && self.last_published.elapsed() >= SNAPSHOT_EVERY {
                self.publish_snapshot()?;
            }
            // Idle: one deferred clean-up at a time, then look for events again (not while
            // agents are being started: removing a worktree holds the git write lock they need).
            if self.starter.is_idle()
                && let Some(agent) = self.next_to_tidy()
            {
                self.tidy_now(agent);
                continue;
            }
            // Wakes at once for this process's writes, within `poll` for others' and agents'.
            let busy = !self.live.is_empty() || !self.starter.is_idle();
            let poll = if busy { self.options.poll } else { self.options.idle_poll };
            if self.watch.wait_blocking(poll, poll)?.is_some() {
                return Ok(Event::Changed);
            }
        }
    }

    /// Reads every supervised agent's new output and notices the ones that ended; both are
    /// queued as events. An agent that ended leaves `live` at once (its end is recorded) and its
    /// worktree becomes a candidate for reuse or clean-up.
    fn poll_agents(&mut self) -> Result<(), CoordinatorError> {
        self.take_started()?;
        self.observe_agents(self.output_read.elapsed() >= OUTPUT_EVERY)
    }

    /// Prints every agent's output so far, before the events it caused (a merge): the human
    /// reads "a1 (t1) → request_merge" before "merged t1". Ends found meanwhile stay queued.
    pub(super) fn catch_up_on_output(&mut self) -> Result<(), CoordinatorError> {
        self.observe_agents(true)?;
        let (output, rest): (VecDeque<Event>, VecDeque<Event>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|e| matches!(e, Event::Output { .. }));
        self.queue = rest;
        for event in output {
            self.handle_event(event)?;
        }
        Ok(())
    }

    fn observe_agents(&mut self, read_output: bool) -> Result<(), CoordinatorError> {
        let mut ended = Vec::new();
        if read_output {
            self.output_read = Instant::now();
        }
        for live in self.live.values_mut() {
            let (events, exit) = self.runtime.observe(live, read_output)?;
            if !events.is_empty() {
                self.queue.push_back(Event::Output { agent: live.agent, task: live.task, events });
            }
            if let Some(exit) = exit {
                ended.push(live.agent);
                self.queue.push_back(Event::Exited(Box::new(exit)));
            }
        }
        for agent in ended {
            self.live.remove(&agent);
            self.tidy(agent);
        }
        Ok(())
    }

    fn handle_event(&mut self, event: Event) -> Result<(), CoordinatorError> {
        match event {
            Event::Output { agent, task, events } => {
                for event in &events {
                    if let StreamEvent::ToolUse { name, .. } = event {
                        let on = task.map(|t| format!(" ({t})")).unwrap_or_default();
                        self.progress.line(&format!("{agent}{on} → {}", short_tool(name)));
                    }
                }
                self.snapshot_due = true;
                Ok(())
            }
            Event::Exited(exit) => {
                // Already out of `live` (`observe_agents`); by now `live` may hold the agent's
                // next session (resumed in the same step), which this end is not.
                let task = exit.agent.task.or(exit.agent.bound_task);
                let on = task.map(|t| format!(" ({t})")).unwrap_or_default();
                let id = exit.agent.id;
                if exit.agent.restart_reason.is_some() {
                    self.progress.line(&format!(
                        "{id}{on} was stopped, to be restarted as the operator asked"
                    ));
                } else if exit.agent.state == AgentState::Stopped {
                    self.progress.line(&format!(
                        "{id}{on} was stopped by the operator; its task waits until `cw agent restart {id}`"
                    ));
                } else {
                    self.progress.line(&format!("{id}{on} ended: {}", exit.status));
                }
                self.tidy(exit.agent.id);
                self.step()
            }
            Event::Changed => self.step(),
            Event::Tick => {
                for (task, state) in self.service.expire_leases()? {
                    self.progress.line(&format!("{task}: lease expired, now {state}"));
                }
                self.failed_starts.clear();
                self.step()
            }
            Event::Shutdown => Ok(()),
        }
    }

    /// One pass over everything that may need doing; each part is idempotent.
    fn step(&mut self) -> Result<(), CoordinatorError> {
        self.merge_queue()?;
        self.settle_held_tasks()?;
        let checkpoints =
            if self.options.merge { self.service.ask_human_for_checkpoints()? } else { Vec::new() };
        for question in checkpoints {
            let task = question.task.map(|t| t.to_string()).unwrap_or_default();
            self.progress.line(&format!(
                "{task} is a task for the human: question {} is in the inbox (cw inbox)",
                question.id
            ));
        }
        if self.options.dispatch {
            self.dispatch()?;
        }
        self.snapshot_due = true;
        Ok(())
    }

    /// Tasks held by agents whose process has ended: hand over what they must hear, or count
    /// the attempt as lost.
    fn settle_held_tasks(&mut self) -> Result<(), CoordinatorError> {
        for held in self.service.held_tasks()? {
            let agent = &held.agent;
            // Only agents cw started and whose process is gone; a process another cw command
            // supervises, or a user-run agent (`cw agent register`), is not ours to judge.
            // A stopped agent was paused by the operator: its task waits for `cw agent restart`.
            // An agent being started may claim its task before its process is recorded.
            // Another host's agents are its worker's to supervise.
            if agent.host.as_deref() != self.service.own_host()
                || self.live.contains_key(&agent.id)
                || self.starter.is_starting(held.task.id)
                || agent.process.is_some()
                || agent.kind != AgentKind::Managed
                || agent.is_paused()
            {
                continue;
            }
            if !self.options.dispatch {
                continue;
            }
            match self.service.next_delivery(agent.id)? {
                Some(delivery) => {
                    if self.working_agents()? >= self.options.agents
                        || self.processes() >= self.process_cap()
                    {
                        continue;
                    }
                    self.deliver(agent.id, &delivery)?;
                }
                None if held.task.state == TaskState::Waiting => {}
                None => {
                    let why = agent.exit_status.clone().unwrap_or_else(|| "it ended".to_owned());
                    if let Some((task, state)) = self.service.agent_lost(agent.id, &why)? {
                        let line = match state {
                            TaskState::Failed => {
                                format!("{task} failed: its agent ended too often ({why})")
                            }
                            _ => format!(
                                "{task}: its agent ended before finishing ({why}); it will be resumed"
                            ),
                        };
                        self.progress.line(&line);
                    }
                }
            }
        }
        Ok(())
    }

    /// Resumes `agent`'s session with an answer or a bounce.
    fn deliver(&mut self, agent: AgentId, delivery: &Delivery) -> Result<(), CoordinatorError> {
        let how = match delivery {
            Delivery::Answer(question) => Continuation::Answer {
                question: question.id.to_string(),
                question_text: question.question.clone(),
                answer: question.answer.clone().unwrap_or_default(),
            },
            Delivery::Bounce(merge) => Continuation::Conflict {
                reason: merge.detail.clone().unwrap_or_else(|| "the merge conflicted".to_owned()),
                paths: merge.paths.clone(),
            },
            Delivery::Messages => Continuation::Messages,
            Delivery::Restart { reason, .. } => {
                Continuation::Interrupted { reason: reason.clone() }
            }
        };
        match self.runtime.continue_session(agent, &how) {
            Ok(live) => {
                self.service.mark_delivered(delivery)?;
                let what = match delivery {
                    Delivery::Answer(q) => format!("with the answer to {}", q.id),
                    Delivery::Bounce(_) => "to fix its merge conflict".to_owned(),
                    Delivery::Messages => "to read its messages".to_owned(),
                    Delivery::Restart { .. } => "as the operator asked".to_owned(),
                };
                self.progress.line(&format!("resumed {agent} (pid {}) {what}", live.pid()));
                self.live.insert(agent, live);
            }
            Err(err) => {
                warn!(agent_id = %agent, cause = %err, "could not resume an agent");
                let why = format!("could not be resumed: {err}");
                self.service.record_agent_exit(agent, crate::service::ExitKind::Crashed, &why)?;
                if let Some((task, state)) = self.service.agent_lost(agent, &why)? {
                    self.progress.line(&format!("{task}: {agent} {why}; now {state}"));
                }
            }
        }
        Ok(())
    }

    /// Removes a finished agent's worktree once its work is merged (never unmerged work), when
    /// the loop is next idle (or before it returns).
    fn tidy(&mut self, agent: AgentId) {
        self.tidy_later.insert(agent);
    }

    /// The oldest finished agent whose worktree can go now: up to `agents` of them are kept as
    /// spares for new agents while tasks are still waiting to be dispatched.
    fn next_to_tidy(&mut self) -> Option<AgentId> {
        let keep_spares = self.service.config().agent.reuse_worktrees
            && self.overview.as_ref().is_some_and(|s| {
                s.counts.iter().any(|(state, n)| {
                    *n > 0 && matches!(state, TaskState::Pending | TaskState::Ready)
                })
            });
        if keep_spares && self.tidy_later.len() <= self.options.agents {
            return None;
        }
        self.tidy_later.pop_first()
    }

    fn tidy_all(&mut self) {
        while let Some(agent) = self.tidy_later.pop_first() {
            self.tidy_now(agent);
        }
    }

    pub(super) fn tidy_now(&self, agent: AgentId) {
        if let Err(err) = self.service.clean_merged_worktree(agent) {
            warn!(agent_id = %agent, cause = %err, "could not remove a merged worktree");
        }
    }

    /// True when nothing more will happen without the human or a new task: every task merged,
    /// failed or cancelled, or stuck behind one that is.
    fn finished(&self) -> Result<bool, CoordinatorError> {
        if !self.live.is_empty() || !self.queue.is_empty() || !self.starter.is_idle() {
            return Ok(false);
        }
        Ok(self.service.nothing_can_move()?)
    }

    /// Tasks held by agents the operator stopped (`cw agent stop`), with those agents: cw
    /// leaves them alone until `cw agent restart`.
    fn paused_tasks(&self) -> Result<BTreeMap<TaskId, AgentId>, CoordinatorError> {
        Ok(self
            .service
            .held_tasks()?
            .into_iter()
            .filter(|held| held.agent.is_paused())
            .map(|held| (held.task.id, held.agent.id))
            .collect())
    }

    fn report(&self) -> Result<RunReport, CoordinatorError> {
        let tasks = self.service.all_tasks()?;
        let paused = self.paused_tasks()?;
        let questions = self.service.open_question_of_each_task()?;
        let mut report = RunReport { total: tasks.len() as u64, ..RunReport::default() };
        for task in tasks {
            if task.state == TaskState::Merged {
                report.merged += 1;
                continue;
            }
            let why = task.failure_reason.clone().unwrap_or_else(|| match task.state {
                TaskState::Pending => "a dependency is not merged".to_owned(),
                _ if paused.contains_key(&task.id) => {
                    let agent = paused[&task.id];
                    format!(
                        "its agent {agent} was stopped; `cw agent restart {agent}` continues it"
                    )
                }
                TaskState::Ready if task.needs_human => {
                    "a task for you: approve it with `cw answer`, or see `cw inbox`".to_owned()
                }
                state => format!("it is {state}"),
            });
            let for_you = questions.get(&task.id).copied().filter(|_| task.needs_human);
            report.unfinished.push(Unfinished { task: task.id, state: task.state, why, for_you });
        }
        Ok(report)
    }

    /// Stops every supervised agent (or leaves them running with `keep_agents`); their tasks are
    /// recorded so the next `cw run` resumes them without losing an attempt.
    fn stop_all(&mut self) -> Result<(), CoordinatorError> {
        for outcome in self.starter.wait_for_all() {
            self.on_started(outcome)?;
        }
        if self.live.is_empty() {
            return Ok(());
        }
        if self.options.keep_agents {
            self.progress.line(&format!(
                "leaving {} agent(s) running; the next `cw run` adopts them",
                self.live.len()
            ));
            return Ok(());
        }
        self.progress.line(&format!("stopping {} agent(s)", self.live.len()));
        let agents: Vec<LiveAgent> = std::mem::take(&mut self.live).into_values().collect();
        for agent in &agents {
            self.service.release_for_shutdown(agent.agent)?;
        }
        let runtime = &self.runtime;
        let results: Vec<Result<(), CoordinatorError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = agents
                .into_iter()
                .map(|agent| {
                    scope.spawn(move || {
                        runtime
                            .stop_for_shutdown(agent.agent, Some(agent))
                            .map(|_| ())
                            .map_err(CoordinatorError::from)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(CoordinatorError::Panicked("stopping an agent")))
                })
                .collect()
        });
        for result in results {
            result?;
        }
        info!("all agents stopped");
        Ok(())
    }

    /// Shows the current picture if it differs from the one shown last.
    fn publish_snapshot(&mut self) -> Result<(), CoordinatorError> {
        self.snapshot_due = false;
        self.last_published = Instant::now();
        let overview = self.service.overview()?;
        let mut agents = Vec::new();
        let working: Vec<(AgentId, Option<TaskId>, String)> = self
            .live
            .values()
            .map(|live| {
                let action = live.summary.last_action.clone();
                // Its process runs (a start in progress is not in `live`): working, if silent so far.
                (live.agent, live.task, action.unwrap_or_else(|| "working".to_owned()))
            })
            .collect();
        for (agent, task, last_action) in working {
            let title = match task {
                Some(task) => self.title_of(task)?,
                None => String::new(),
            };
            agents.push(AgentLine { agent, task, title, last_action });
        }
        let snapshot = Snapshot {
            counts: overview.counts.clone(),
            total: overview.total,
            agents,
            queued_merges: overview.queued_merges,
            open_questions: overview.open_questions,
            for_you: overview.for_you,
            recent_merges: overview.recent_merges.iter().take(SNAPSHOT_MERGES).cloned().collect(),
            paused: self.paused.clone(),
            hosts: self
                .service
                .hosts()?
                .into_iter()
                .map(|h| HostLine {
                    name: h.host.name,
                    running: h.running,
                    capacity: h.host.agents,
                    lost: h.lost,
                })
                .collect(),
        };
        self.overview = Some(overview);
        if self.last_snapshot.as_ref() != Some(&snapshot) {
            self.progress.snapshot(&snapshot);
            self.last_snapshot = Some(snapshot);
        }
        Ok(())
    }

    fn title_of(&mut self, task: TaskId) -> Result<String, CoordinatorError> {
        if let Some(title) = self.titles.get(&task) {
            return Ok(title.clone());
        }
        let title = self.service.task(task)?.task.title;
        self.titles.insert(task, title.clone());
        Ok(title)
    }
}
