//! Dashboard benchmarks (issue 22): loading the board and a task page of a 1,000-task plan from a
//! real `cw run --no-dispatch`, and how long a change made by another process takes to reach an
//! open page's event stream (the page swaps it in at once).
//!
//! Run: `cargo bench --bench dashboard`. Prints a markdown table.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git and cw processes")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cw::service::{AddTask, Caller, Service};
use cw::workspace::Workspace;

mod common;

const TASKS: usize = 1_000;
const PAGE_LOADS: usize = 50;
const CHANGES: usize = 100;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    common::git(&root, &["init", "-q"]);
    common::git(&root, &["commit", "-q", "--allow-empty", "-m", "i"]);
    Service::init(&root).unwrap();
    let service = Service::open(Workspace::locate(&root).unwrap()).unwrap();
    // Ten chains of a hundred: every task but the first of a chain waits for the one before.
    let mut previous = Vec::new();
    for i in 0..TASKS {
        let after = if i >= 10 { vec![previous[i - 10]] } else { Vec::new() };
        let task = AddTask { title: format!("task {i}"), after, ..AddTask::default() };
        previous.push(service.add_task(&Caller::CLI, &task).unwrap().id);
    }

    let (mut child, port, cookie) = serve(&root, &["run", "--no-dispatch"]);

    let mut rows = Vec::new();
    for (what, page) in [("the board", "/"), ("a task page", "/task/t500")] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..PAGE_LOADS {
            let started = Instant::now();
            let body = request(port, &format!("GET {page} HTTP/1.1\r\n"), &cookie);
            times.push(started.elapsed());
            assert!(body.contains("200 OK"), "{body}");
            bytes = body.len();
        }
        let (p50, p99) = quantiles(&mut times);
        rows.push(format!(
            "| load {what} ({} KB), loopback, server time + transfer | {TASKS} | {} | {} |",
            bytes / 1024,
            ms(p50),
            ms(p99)
        ));
    }

    // A change from another process (this one, as `cw task add` would make it) until the open
    // event stream carries the new card.
    let mut events = TcpStream::connect(("127.0.0.1", port)).unwrap();
    events.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let open = format!(
        "GET /events?view=board HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}Accept: text/event-stream\r\n\r\n"
    );
    events.write_all(open.as_bytes()).unwrap();
    let mut seen = String::new();
    wait_for(&mut events, &mut seen, "event: update");
    let mut times = Vec::new();
    for i in 0..CHANGES {
        seen.clear();
        let started = Instant::now();
        let task = AddTask { title: format!("added {i}"), ..AddTask::default() };
        let id = service.add_task(&Caller::CLI, &task).unwrap().id;
        wait_for(&mut events, &mut seen, &format!("data-task=\\\"{id}\\\""));
        times.push(started.elapsed());
    }
    let (p50, p99) = quantiles(&mut times);
    rows.push(format!(
        "| a task added by another process → on the open page's event stream | {TASKS} | {} | {} |",
        ms(p50),
        ms(p99)
    ));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();

    // The same plan run with no dashboard open and with ten following it, alternately.
    let mut walls: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..4 {
        let open = if round % 2 == 0 { 0 } else { 10 };
        walls[usize::from(open > 0)].push(run_plan(open));
    }
    for (open, times) in [0, 10].into_iter().zip(walls.iter_mut()) {
        times.sort();
        rows.push(format!(
            "| a {PLAN_TASKS}-task plan, {PLAN_AGENTS} scripted agents, `cw run` to its end, {open} dashboards open | {PLAN_TASKS} | {} (best of {}) | |",
            ms(times[0]),
            times.len()
        ));
    }

    println!("| measurement | tasks | p50 | p99 |\n|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

const PLAN_TASKS: usize = 40;
const PLAN_AGENTS: usize = 10;
const PLAN_WORK_MS: u64 = 300;

/// Runs four layers of ten tasks (each a scripted agent's 300 ms of work, depending on two of
/// the layer above) with `cw run --exit-when-done` while `dashboards` event streams follow it;
/// the wall time from start to exit.
fn run_plan(dashboards: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    common::git(&root, &["init", "-q"]);
    common::git(&root, &["commit", "-q", "--allow-empty", "-m", "i"]);
    Service::init(&root).unwrap();
    let config = root.join(".cw/config.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("memory_headroom_mb = 1024", "memory_headroom_mb = 0")
        .replace("agent_memory_mb = 500", "agent_memory_mb = 0");
    std::fs::write(&config, text).unwrap();
    let service = Service::open(Workspace::locate(&root).unwrap()).unwrap();
    let mut above: Vec<cw::model::TaskId> = Vec::new();
    for layer in 0..PLAN_TASKS / PLAN_AGENTS {
        let mut this = Vec::new();
        for i in 0..PLAN_AGENTS {
            let after = if above.is_empty() {
                Vec::new()
            } else {
                vec![above[i], above[(i + 1) % above.len()]]
            };
            let task = AddTask {
                title: format!("layer {layer} task {i}"),
                description: format!("sim: sleep {PLAN_WORK_MS}\n"),
                after,
                ..AddTask::default()
            };
            this.push(service.add_task(&Caller::CLI, &task).unwrap().id);
        }
        above = this;
    }
    let started = Instant::now();
    let agents = PLAN_AGENTS.to_string();
    let run = ["run", "--agent-command", "sim", "--exit-when-done", "--agents", &agents];
    let (mut child, port, cookie) = serve(&root, &run);
    for _ in 0..dashboards {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let open =
            format!("GET /events?view=board HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}\r\n");
        stream.write_all(open.as_bytes()).unwrap();
        std::thread::spawn(move || std::io::copy(&mut stream, &mut std::io::sink()));
    }
    assert!(child.wait().unwrap().success(), "the plan ran to its end");
    started.elapsed()
}

/// Starts `cw <args>` in `root`, signs in with the dashboard link it prints; the process, the
/// port and the session cookie header.
fn serve(root: &std::path::Path, args: &[&str]) -> (std::process::Child, u16, String) {
    let mut child = Command::new(common::cw_binary())
        .args(args)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("dashboard: ") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "cw run exited");
    }
    let link = line.trim().trim_start_matches("dashboard: ").to_owned();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let port: u16 = link.split(':').nth(2).unwrap().split('/').next().unwrap().parse().unwrap();
    let path = link.split_once(&port.to_string()).unwrap().1.to_owned();
    let head = request(port, &format!("GET {path} HTTP/1.1\r\n"), "");
    let cookie = head.lines().find_map(|l| l.strip_prefix("set-cookie: ")).unwrap();
    (child, port, format!("Cookie: {}\r\n", cookie.split(';').next().unwrap()))
}

/// One request on a fresh connection (`Connection: close`); the whole response, headers
/// lower-cased.
fn request(port: u16, line: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!("{line}Host: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    format!("{}\r\n\r\n{body}", head.to_ascii_lowercase().replacen("http/1.1 200 ok", "200 OK", 1))
}

/// Reads the stream until `needle` has arrived.
fn wait_for(stream: &mut TcpStream, seen: &mut String, needle: &str) {
    let mut buffer = [0u8; 65536];
    while !seen.contains(needle) {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the event stream ended");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

fn quantiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
