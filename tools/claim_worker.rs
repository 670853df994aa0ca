//! A claim worker for race tests and benchmarks: registers its own agent in the repository given
//! as the first argument, then claims, reports done and claims again until nothing is ready.
//! Prints one line per claimed task id, then `done <count> <elapsed_ms>` on its last line.
#![expect(clippy::print_stdout, reason = "a test tool whose stdout is its result")]

use std::path::PathBuf;
use std::time::Instant;

use cw::model::ReportOutcome;
use cw::service::Service;
use cw::workspace::Workspace;

fn main() -> anyhow::Result<()> {
    let repo = PathBuf::from(
        std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: claim_worker <repo>"))?,
    );
    let service = Service::open(Workspace::locate(&repo)?)?;
    let agent = service.register_agent(&format!("worker-{}", std::process::id()), None)?.agent.id;
    // Start together: wait for the go file the test creates once every worker is up.
    if let Some(go) = std::env::args().nth(2) {
        while !std::path::Path::new(&go).exists() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let started = Instant::now();
    let mut claimed = Vec::new();
    while let Some(claim) = service.claim(agent)? {
        claimed.push(claim.task.id);
        service.report_done(agent, claim.task.id, ReportOutcome::Done, "done by claim_worker")?;
    }
    let elapsed = started.elapsed();
    let mut out = String::new();
    for id in &claimed {
        out.push_str(&format!("{id}\n"));
    }
    out.push_str(&format!("done {} {}\n", claimed.len(), elapsed.as_millis()));
    print!("{out}");
    Ok(())
}
