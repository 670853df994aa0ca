//! MCP benchmarks (issue 3): `claim_task` round trip over stdio and HTTP from a Rust client (rmcp)
//! and from the Python SDK at 10K tasks, claim throughput with 64 concurrent HTTP clients, and the
//! memory of an idle `cw mcp`.
//!
//! Run: `bash tools/test-deps.sh && cargo bench --bench mcp`. Prints a markdown table.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git, cw and python processes")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cw::model::{TaskState, Timestamp};
use cw::service::Service;
use cw::store::NewTask;
use cw::workspace::Workspace;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};

const TASKS: usize = 10_000;
const SAMPLES: usize = 1_000;

type Client = RunningService<RoleClient, ClientConfig>;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let repo = Repo::new(TASKS);
    let mut rows = Vec::new();

    let token = repo.token();
    let stdio = stdio_client(&repo, &token).await;
    let (p50, p99) = claim_latencies(&stdio, SAMPLES).await;
    rows.push(format!(
        "| claim_task round trip, stdio, Rust rmcp client | {TASKS} | {} | {} |",
        ms(p50),
        ms(p99)
    ));
    stdio.cancel().await.unwrap();

    let mut server = repo.start_server();
    let http = http_client(&server.url, &repo.token()).await;
    let (p50, p99) = claim_latencies(&http, SAMPLES).await;
    rows.push(format!(
        "| claim_task round trip, HTTP, Rust rmcp client | {TASKS} | {} | {} |",
        ms(p50),
        ms(p99)
    ));
    http.cancel().await.unwrap();

    for (transport, url) in [("stdio", None), ("http", Some(server.url.clone()))] {
        if let Some((p50, p99)) = python_bench(&repo, transport, url.as_deref()) {
            rows.push(format!("| claim_task round trip, {transport}, Python mcp SDK | {TASKS} | {p50:.3} ms | {p99:.3} ms |"));
        }
    }

    let throughput_repo = Repo::new(TASKS);
    let mut throughput_server = throughput_repo.start_server();
    let (rate, wall) = http_throughput(&throughput_repo, &throughput_server.url, 64).await;
    rows.push(format!("| claim_task + report_done, 64 concurrent HTTP clients | {TASKS} | {rate:.0} claims/s | wall {} |", ms(wall)));
    throughput_server.stop();
    server.stop();

    let rss = idle_mcp_rss(&repo);
    rows.push(format!(
        "| RSS of an idle `cw mcp` (after initialize) | {TASKS} | {:.1} MB | |",
        rss as f64 / 1024.0
    ));

    println!("| measurement | tasks | p50 / value | p99 |\n|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

/// A repository with `tasks` ready tasks.
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    service: Service,
}

impl Repo {
    fn new(tasks: usize) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for args in [
            &["init", "-q"][..],
            &[
                "-c",
                "user.name=b",
                "-c",
                "user.email=b@b",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "i",
            ][..],
        ] {
            assert!(Command::new("git").args(args).current_dir(&root).status().unwrap().success());
        }
        Service::init(&root).unwrap();
        let service = Service::open(Workspace::locate(&root).unwrap()).unwrap();
        cw::store::Store::open(&service.workspace().db_path())
            .unwrap()
            .write(|tx| {
                for i in 0..tasks {
                    tx.insert_task(
                        &NewTask { title: format!("task {i}"), ..NewTask::default() },
                        TaskState::Ready,
                        Timestamp(1),
                    )?;
                }
                Ok::<_, cw::store::StoreError>(())
            })
            .unwrap();
        Repo { _dir: dir, root, service }
    }

    fn token(&self) -> String {
        self.service.register_agent_of("bench", None, cw::model::AgentKind::Bare).unwrap().token
    }

    fn start_server(&self) -> Server {
        use std::io::BufRead;
        let mut child = Command::new(cw_binary())
            .args(["run", "--no-dispatch"])
            .current_dir(&self.root)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("serving MCP on ") {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "cw run exited");
        }
        let url = line
            .split("serving MCP on ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        Server { child, url, _stderr: stderr }
    }
}

struct Server {
    child: std::process::Child,
    url: String,
    _stderr: std::io::BufReader<std::process::ChildStderr>,
}

impl Server {
    fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("cw-bench", "0"))
}

async fn stdio_client(repo: &Repo, token: &str) -> Client {
    let mut command = tokio::process::Command::new(cw_binary());
    command.arg("mcp").current_dir(&repo.root).env("CW_TOKEN", token).stderr(Stdio::null());
    client_config().serve(TokioChildProcess::new(command).unwrap()).await.unwrap()
}

async fn http_client(url: &str, token: &str) -> Client {
    let config =
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token.to_owned());
    client_config().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap()
}

/// Claims, timing only claim_task; reports each task done so the next claim takes a new one.
async fn claim_latencies(client: &Client, samples: usize) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let result = client.call_tool(CallToolRequestParams::new("claim_task")).await.unwrap();
        times.push(started.elapsed());
        let task =
            result.structured_content.unwrap()["task"]["task_id"].as_str().unwrap().to_owned();
        report_done(client, &task).await;
    }
    times.sort();
    (times[samples / 2], times[samples * 99 / 100])
}

async fn report_done(client: &Client, task: &str) {
    let args = serde_json::json!({ "task_id": task, "summary": "bench", "outcome": "done" });
    let params =
        CallToolRequestParams::new("report_done").with_arguments(args.as_object().unwrap().clone());
    let result = client.call_tool(params).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
}

/// `clients` concurrent HTTP clients claim and finish tasks until none is ready.
async fn http_throughput(repo: &Repo, url: &str, clients: usize) -> (f64, Duration) {
    let mut connected = Vec::new();
    for _ in 0..clients {
        connected.push(Arc::new(http_client(url, &repo.token()).await));
    }
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for client in connected {
        workers.spawn(async move {
            let mut claimed = 0usize;
            loop {
                let result =
                    client.call_tool(CallToolRequestParams::new("claim_task")).await.unwrap();
                let Some(task) = result.structured_content.unwrap()["task"]["task_id"]
                    .as_str()
                    .map(str::to_owned)
                else {
                    break;
                };
                report_done(&client, &task).await;
                claimed += 1;
            }
            claimed
        });
    }
    let mut total = 0;
    while let Some(claimed) = workers.join_next().await {
        total += claimed.unwrap();
    }
    let wall = started.elapsed();
    assert_eq!(total, TASKS);
    (total as f64 / wall.as_secs_f64(), wall)
}

/// p50/p99 in ms from tests/clients/mcp_client.py bench, if the Python SDK is installed.
fn python_bench(repo: &Repo, transport: &str, url: Option<&str>) -> Option<(f64, f64)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = manifest.join(".test-deps/venv/bin/python");
    if !python.exists() {
        return None;
    }
    let token = repo.token();
    let mut command = Command::new(python);
    command.arg(manifest.join("tests/clients/mcp_client.py")).args([
        "bench",
        "--transport",
        transport,
        "--mode",
        "legacy",
        "--n",
        "500",
        "--token",
        &token,
    ]);
    command.args(["--cw", cw_binary().to_str()?, "--repo", repo.root.to_str()?]);
    if let Some(url) = url {
        command.args(["--url", url]);
    }
    let output = command.output().ok()?;
    let result: serde_json::Value =
        serde_json::from_slice(output.stdout.rsplit(|b| *b == b'\n').find(|l| !l.is_empty())?)
            .ok()?;
    Some((result["p50_ms"].as_f64()?, result["p99_ms"].as_f64()?))
}

/// VmRSS (KiB) of a `cw mcp` that has answered `initialize` and then sits idle.
fn idle_mcp_rss(repo: &Repo) -> u64 {
    use std::io::{BufRead, Write};
    let mut child = Command::new(cw_binary())
        .arg("mcp")
        .current_dir(&repo.root)
        .env("CW_TOKEN", repo.token())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"rss","version":"0"}}}}}}"#).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let status = fs_err::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    drop(stdin);
    let _ = child.wait();
    rss
}

fn cw_binary() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("cw")
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}
