//! Agent starts on worker threads.
//!
//! A start runs the configured `[agent] setup_command` in the new worktree (`npm ci`, `cargo
//! fetch`: seconds to minutes). On the loop's thread that stopped everything else — merges,
//! other agents' exits, progress — for as long as it ran. With a setup command, starts run on
//! two worker threads, and the loop goes on merging and watching meanwhile. Without one a start
//! is a few milliseconds of git and database work and runs on the loop's thread as it is
//! submitted: on a machine whose cores the agents already keep busy, overlapping those starts
//! takes as much CPU from the agents and merges as it saves (measured, BENCHMARKS.md session 7).
//! Either way the loop decides what starts (which task, which spare worktree, resume or not) and
//! handles every outcome; the start itself only calls the agent runtime.
//!
//! Invariant: a task is "starting" from `submit` until its outcome is taken, and the loop treats
//! it as taken by an agent all that time (it counts as working, is not dispatched again and its
//! claim is not judged as an agent lost).

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;

use super::CoordinatorError;
use crate::agent::{AgentRuntime, Continuation, LiveAgent};
use crate::model::{AgentId, TaskId};

/// Two: a long setup command does not hold up the next start. More would mostly queue on the
/// git write lock.
const WORKERS: usize = 2;

/// One start to run.
pub(super) enum StartJob {
    /// A new agent on `task`, in the merged worktree of `spare` if that can be reused.
    New { task: TaskId, spare: Option<AgentId> },
    /// The task's earlier agent, resumed in its worktree.
    Resume { task: TaskId, agent: AgentId, how: Continuation },
}

impl StartJob {
    fn task(&self) -> TaskId {
        match self {
            StartJob::New { task, .. } | StartJob::Resume { task, .. } => *task,
        }
    }
}

/// What became of a start.
pub(super) struct StartOutcome {
    pub(super) task: TaskId,
    pub(super) resumed: bool,
    /// The spare worktree the job was offered.
    pub(super) spare: Option<AgentId>,
    pub(super) result: Result<LiveAgent, CoordinatorError>,
}

/// The starts in flight, and the worker threads that run them (none when starts run inline).
pub(super) struct Starter {
    /// Set when starts run on the loop's thread as they are submitted; their outcomes go into
    /// the same channel the workers' do.
    inline: Option<(Arc<AgentRuntime>, mpsc::Sender<StartOutcome>)>,
    jobs: Option<mpsc::Sender<StartJob>>,
    outcomes: mpsc::Receiver<StartOutcome>,
    workers: Vec<JoinHandle<()>>,
    /// The tasks being started for.
    in_flight: BTreeSet<TaskId>,
}

impl Starter {
    /// Starts on worker threads when `threaded`, else on the caller's thread in `submit`.
    pub(super) fn new(
        runtime: &Arc<AgentRuntime>,
        threaded: bool,
    ) -> Result<Starter, CoordinatorError> {
        let (jobs, queue) = mpsc::channel();
        let (done, outcomes) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        let count = if threaded { WORKERS } else { 0 };
        let mut workers = Vec::with_capacity(count);
        for n in 0..count {
            let (runtime, queue, done) = (Arc::clone(runtime), Arc::clone(&queue), done.clone());
            let worker = std::thread::Builder::new()
                .name(format!("cw-start-{n}"))
                .spawn(move || work(&runtime, &queue, &done))
                .map_err(CoordinatorError::StartThreads)?;
            workers.push(worker);
        }
        Ok(Starter {
            inline: (!threaded).then(|| (Arc::clone(runtime), done)),
            jobs: Some(jobs),
            outcomes,
            workers,
            in_flight: BTreeSet::new(),
        })
    }

    /// Queues a start; its outcome comes back from `finished`.
    pub(super) fn submit(&mut self, job: StartJob) -> Result<(), CoordinatorError> {
        let task = job.task();
        let sent = match &self.inline {
            Some((runtime, done)) => done.send(run(runtime, &job)).is_ok(),
            None => self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok()),
        };
        if !sent {
            return Err(CoordinatorError::StartThreadsGone);
        }
        self.in_flight.insert(task);
        Ok(())
    }

    /// Starts submitted whose outcome has not been taken yet.
    pub(super) fn len(&self) -> usize {
        self.in_flight.len()
    }

    pub(super) fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    pub(super) fn is_starting(&self, task: TaskId) -> bool {
        self.in_flight.contains(&task)
    }

    /// The outcomes ready now, without waiting.
    pub(super) fn finished(&mut self) -> Vec<StartOutcome> {
        let outcomes: Vec<StartOutcome> = self.outcomes.try_iter().collect();
        for outcome in &outcomes {
            self.in_flight.remove(&outcome.task);
        }
        outcomes
    }

    /// Every outcome still to come (at shutdown: an agent being started is stopped like the
    /// others, not left unsupervised).
    pub(super) fn wait_for_all(&mut self) -> Vec<StartOutcome> {
        let mut outcomes = Vec::new();
        while !self.in_flight.is_empty() {
            let Ok(outcome) = self.outcomes.recv() else {
                // Every worker is gone; nothing more can come.
                self.in_flight.clear();
                break;
            };
            self.in_flight.remove(&outcome.task);
            outcomes.push(outcome);
        }
        outcomes
    }
}

impl Drop for Starter {
    fn drop(&mut self) {
        // Closing the queue ends each worker after its current job.
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(
    runtime: &AgentRuntime,
    queue: &Mutex<mpsc::Receiver<StartJob>>,
    done: &mpsc::Sender<StartOutcome>,
) {
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        // The coordinator closed the queue.
        let Ok(job) = job else { return };
        if done.send(run(runtime, &job)).is_err() {
            return;
        }
    }
}

fn run(runtime: &AgentRuntime, job: &StartJob) -> StartOutcome {
    let task = job.task();
    let (resumed, spare) = match job {
        StartJob::New { spare, .. } => (false, *spare),
        StartJob::Resume { .. } => (true, None),
    };
    // A panic must not lose the outcome: the loop would count the task as starting forever.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| match job {
        StartJob::New { task, spare } => runtime.spawn_on_task(*task, *spare),
        StartJob::Resume { agent, how, .. } => runtime.continue_session(*agent, how),
    }))
    .map_err(|_| CoordinatorError::Panicked("starting the agent"))
    .and_then(|started| started.map_err(CoordinatorError::from));
    StartOutcome { task, resumed, spare, result }
}
