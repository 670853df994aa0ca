//! The dashboard of a real `cw run`: its access rules over raw HTTP, its HTML as snapshots, and
//! a real headless Chromium (Selenium's WebDriver, `tests/clients/browser.py`) that follows a
//! run live and steers it: add, cancel, retry, answer a blocked `ask_user`, stop an agent.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::coordinator::{add_after, sim_env};
use crate::support::{TestEnv, command, cw_binary, test_dep};

/// A `cw run` with the scripted agent, one slot: t1 keeps its agent busy, t2 and t3 wait for it.
struct Run {
    child: Child,
    /// The sign-in link it printed.
    link: String,
    port: u16,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = command("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn start_run(env: &TestEnv) -> Run {
    let mut child = env
        .cw_command(&env.root(), &["run", "--agent-command", "sim", "--agents", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    // Read to the end: a full pipe would block the run.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let link = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = seen.recv_timeout(left).expect("cw run prints its dashboard link within 30 s");
        if let Some(link) = line.strip_prefix("dashboard: ") {
            break link.to_owned();
        }
    };
    std::thread::spawn(move || while seen.recv().is_ok() {});
    let port = link.split(':').nth(2).unwrap().split('/').next().unwrap().parse().unwrap();
    Run { child, link, port }
}

fn plan() -> TestEnv {
    let env = sim_env("");
    add_after(&env, "Slow groundwork", "sim: sleep 60000\n", &[]);
    add_after(&env, "Build on it", "sim: write b.txt b\n", &["t1"]);
    add_after(&env, "And the docs", "sim: write c.txt c\n", &["t1"]);
    env
}

/// One HTTP/1.1 request; the status code, the headers (lower-case names) and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|h| h.starts_with("Host:")) {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for header in headers {
        request.push_str(&format!("{header}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("0").parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Signs in with the link: the session cookie (`name=value`).
fn sign_in(run: &Run) -> String {
    let path = run.link.split_once(&format!("{}", run.port)).unwrap().1;
    let (status, head, _) = http(run.port, "GET", path, &[], "");
    assert_eq!(status, 303, "{head}");
    let cookie = head.lines().find_map(|l| l.strip_prefix("set-cookie: ")).unwrap().to_owned();
    assert!(cookie.contains("httponly") && cookie.contains("samesite=strict"), "{cookie}");
    assert!(head.contains("location: /\r\n") || head.ends_with("location: /"), "{head}");
    cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn the_dashboard_needs_its_link_and_refuses_requests_from_other_pages() {
    let env = plan();
    let run = start_run(&env);
    // `cw dashboard` prints the same link, kept in a file only its owner can read.
    assert_eq!(env.cw(&["dashboard"]).ok().trim(), run.link);
    assert_eq!(env.cw(&["dashboard", "--json"]).json()["url"], run.link.as_str());
    let info = env.root().join(".cw/server.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs_err::metadata(&info).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let (status, _, body) = http(run.port, "GET", "/", &[], "");
    assert_eq!(status, 401);
    assert!(body.contains("cw dashboard"), "the page says what to do: {body}");
    let (status, _, _) = http(run.port, "GET", "/?token=cwd_0123", &[], "");
    assert_eq!(status, 401, "a wrong or old link does not sign in");
    assert_eq!(http(run.port, "GET", "/events", &[], "").0, 401);

    let cookie = sign_in(&run);
    let cookie_header = format!("Cookie: {cookie}");
    let (status, head, page) = http(run.port, "GET", "/", &[&cookie_header], "");
    assert_eq!(status, 200);
    assert!(head.contains("content-security-policy: default-src 'self'"), "{head}");
    let csrf = page.split("name=\"cw-csrf\" content=\"").nth(1).unwrap().split('"').next().unwrap();
    let csrf_header = format!("X-CW-CSRF: {csrf}");
    let add = json!({ "title": "Sneaked in", "after": "t1" }).to_string();
    let titles = || {
        let tasks = env.cw(&["task", "list", "--json"]).json();
        tasks.as_array().unwrap().iter().map(|t| t["title"].clone()).collect::<Vec<_>>()
    };
    let before = titles();
    for (headers, why) in [
        (
            vec![cookie_header.as_str(), csrf_header.as_str(), "Origin: http://evil.example"],
            "a foreign page",
        ),
        (vec![cookie_header.as_str(), "Origin: http://127.0.0.1"], "no CSRF token"),
        (vec![cookie_header.as_str(), csrf_header.as_str()], "no Origin"),
        (vec![csrf_header.as_str(), "Origin: http://127.0.0.1"], "no cookie"),
    ] {
        let (status, _, body) = http(run.port, "POST", "/act/add", &headers, &add);
        assert!(status == 403 || status == 401, "{why}: {status} {body}");
    }
    assert_eq!(titles(), before, "nothing was added");
    let evil_host = http(run.port, "GET", "/", &[&cookie_header, "Host: evil.example"], "");
    assert_eq!(evil_host.0, 403, "a DNS-rebinding Host is refused");

    let origin = format!("Origin: http://127.0.0.1:{}", run.port);
    let (status, _, body) =
        http(run.port, "POST", "/act/add", &[&cookie_header, &csrf_header, &origin], &add);
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["message"], "added t4: Sneaked in");
    // A refusal is the service's own message.
    let bad = json!({ "task": "t99" }).to_string();
    let (status, _, body) =
        http(run.port, "POST", "/act/cancel", &[&cookie_header, &csrf_header, &origin], &bad);
    assert_eq!(status, 422);
    assert!(body.contains("task t99 does not exist"), "{body}");
}

/// The HTML of the board and of a task for a fixed plan, with ages and secrets masked.
#[test]
fn board_and_task_html_snapshots() {
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "Parse the <config>", "--description", "Read & check it"]).ok();
    env.cw(&["task", "add", "Document it", "--after", "t1"]).ok();
    env.cw(&["task", "add", "Dropped", "--json"]).ok();
    env.cw(&["task", "cancel", "t3"]).ok();
    let mut server = env.cw_command(&env.root(), &["run", "--no-dispatch"]);
    let child = server.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut run = Run { child, link: String::new(), port: 0 };
    let mut stderr = BufReader::new(run.child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("dashboard: ") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "cw run ended before its link");
    }
    run.link = line.trim().trim_start_matches("dashboard: ").to_owned();
    run.port = run.link.split(':').nth(2).unwrap().split('/').next().unwrap().parse().unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let cookie = format!("Cookie: {}", sign_in(&run));
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r#"content="[0-9a-f]{64}""#, r#"content="CSRF""#);
    settings.add_filter(r"<span>\d+[smhd]</span>", "<span>AGE</span>");
    settings.add_filter(r"changed \d+[smhd] ago", "changed AGE ago");
    settings.add_filter(r#"title="[0-9T:.-]+Z">\d+[smhd] ago"#, r#"title="[time]">AGE ago"#);
    settings.add_filter(r"\$-?0\.00", "[cost]");
    settings.add_filter(r"[\d.]+ GiB free", "[memory] GiB free");
    settings.add_filter(r#" d="M[^"]*""#, r#" d="[path]""#);
    settings.bind(|| {
        let (status, _, board) = http(run.port, "GET", "/", &[&cookie], "");
        assert_eq!(status, 200);
        insta::assert_snapshot!("dashboard_board", board.replace("><", ">\n<"));
        let (status, _, task) = http(run.port, "GET", "/task/t1", &[&cookie], "");
        assert_eq!(status, 200);
        insta::assert_snapshot!("dashboard_task", task.replace("><", ">\n<"));
    });
    assert_eq!(http(run.port, "GET", "/task/t99", &[&cookie], "").0, 404);
}

/// A real headless Chromium, one WebDriver command at a time.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl Browser {
    fn start() -> Browser {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/browser.py");
        let mut child = command(test_dep("venv/bin/python"))
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect(
                "the browser driver starts (tools/test-deps.sh installs Chromium and Selenium)",
            );
        let stdin = child.stdin.take().unwrap();
        let (send, answers) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let mut browser = Browser { child, stdin, answers };
        assert_eq!(browser.answer(Duration::from_secs(60)), json!("ready"), "Chromium started");
        browser
    }

    fn answer(&mut self, within: Duration) -> Value {
        let line = self.answers.recv_timeout(within).expect("the browser driver answered");
        let answer: Value = serde_json::from_str(&line).unwrap();
        match answer.get("ok") {
            Some(value) => value.clone(),
            None => panic!("browser: {}", answer["error"]),
        }
    }

    fn send(&mut self, command: &Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.answer(Duration::from_secs(60))
    }

    /// Waits (at most 10 s) until `css` matches an element containing `text`.
    fn wait_for(&mut self, css: &str, text: Option<&str>) {
        self.send(&json!({ "op": "wait", "css": css, "text": text, "seconds": 10 }));
    }

    fn click(&mut self, css: &str) {
        self.send(&json!({ "op": "click", "css": css }));
    }

    fn note(&mut self, says: &str) {
        self.wait_for("#note", Some(says));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_browser_follows_the_run_live_and_steers_it() {
    let env = plan();
    let run = start_run(&env);
    let mut browser = Browser::start();
    let address = browser.send(&json!({ "op": "get", "url": run.link }));
    assert_eq!(
        address,
        format!("http://127.0.0.1:{}/", run.port),
        "the token left the address bar"
    );
    // Every task of the plan, in its state: t1 with its agent, the others waiting for it.
    browser.wait_for(".s-working a[data-task=t1]", Some("Slow groundwork"));
    browser.wait_for(".s-pending a[data-task=t2]", None);
    browser.wait_for(".s-pending a[data-task=t3]", None);
    // The run's counts and charts.
    browser.wait_for("#charts", Some("0 of 3 merged · 0 bounced back"));
    browser.wait_for("#charts svg path.series", None);
    // The dependency graph: a box per task, the critical path named and drawn heavier.
    browser.wait_for("#graph", Some("Critical path: t1 → t2"));
    let boxes = browser.send(&json!({ "op": "count", "css": "#graph svg g.node" }));
    assert_eq!(boxes, json!(3));
    assert_eq!(
        browser.send(&json!({ "op": "count", "css": "#graph svg path.edge.critical" })),
        json!(1)
    );
    browser.send(&json!({ "op": "eval", "js": "window.cwSamePage = true; return true;" }));

    // Changes from the command line show up without a reload.
    add_after(&env, "Added from the CLI", "sim: write d.txt d\n", &["t1"]);
    browser.wait_for(".s-pending a[data-task=t4]", Some("Added from the CLI"));
    env.cw(&["task", "cancel", "t4"]).ok();
    browser.wait_for(".s-cancelled a[data-task=t4]", None);

    // Adding from the page.
    browser.send(
        &json!({ "op": "type", "css": "form.add input[name=title]", "text": "Added from the page" }),
    );
    browser.send(&json!({ "op": "type", "css": "form.add input[name=after]", "text": "t1" }));
    browser.click("form.add button[type=submit]");
    browser.note("added t5: Added from the page");
    browser.wait_for(".s-pending a[data-task=t5]", Some("Added from the page"));
    let same = browser.send(&json!({ "op": "eval", "js": "return window.cwSamePage === true;" }));
    assert_eq!(same, json!(true), "no reload happened");

    // Answering in the page returns from a blocked ask_user.
    let agent = env.cw(&["agent", "register", "--name", "asker", "--json"]).json();
    let mcp_url = format!("http://127.0.0.1:{}/mcp", run.port);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mcp_client.py");
    let mut asker = command(test_dep("venv/bin/python"))
        .arg(script)
        .args(["wait", "--transport", "http", "--url", &mcp_url])
        .args(["--token", agent["token"].as_str().unwrap()])
        .args(["--cw", cw_binary().to_str().unwrap(), "--repo", env.root().to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    browser.wait_for("article[data-question=q1]", Some("Still there?"));
    browser.send(&json!({ "op": "type", "css": "article[data-question=q1] input[name=answer]", "text": "Yes, go on" }));
    browser.click("article[data-question=q1] form > button:last-of-type");
    browser.note("q1 answered");
    let mut said = String::new();
    asker.stdout.take().unwrap().read_to_string(&mut said).unwrap();
    assert!(asker.wait().unwrap().success(), "{said}");
    let result: Value = serde_json::from_str(said.lines().last().unwrap()).unwrap();
    assert!(result["text"].as_str().unwrap().contains("Yes, go on"), "{result}");
    browser.wait_for("#needs", Some("Nothing: every agent can go on."));

    // Cancel and retry from a task's page; its part follows live.
    browser.send(&json!({ "op": "get", "url": format!("http://127.0.0.1:{}/task/t5", run.port) }));
    browser.click("form[data-act=cancel] button");
    browser.note("t5 cancelled");
    browser.wait_for("#task .badge", Some("cancelled"));
    browser.click("form[data-act=retry] button");
    browser.note("t5 is pending again");
    browser.wait_for("#task .badge", Some("pending"));
    browser.wait_for("#task .timeline", Some("cancelled"));

    // Stop the agent from its page: the task waits for a restart.
    browser.send(&json!({ "op": "get", "url": format!("http://127.0.0.1:{}/agent/a1", run.port) }));
    browser.wait_for("#agent h1", Some("a1"));
    browser.click("form[data-act=stop] button");
    browser.note("a1 stopped");
    let agents = env.cw(&["agent", "list", "--json"]).json();
    let a1 = agents.as_array().unwrap().iter().find(|a| a["id"] == "a1").unwrap();
    assert_eq!(a1["state"], "stopped", "{agents}");

    // A picture of the board for review.
    browser.send(&json!({ "op": "get", "url": format!("http://127.0.0.1:{}/", run.port) }));
    browser.wait_for(".s-working a[data-task=t1]", None);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    fs_err::create_dir_all(&shots).unwrap();
    let picture = shots.join("board.png");
    browser.send(&json!({ "op": "screenshot", "path": picture.to_str().unwrap() }));
    assert!(fs_err::metadata(&picture).unwrap().len() > 10_000, "a real picture");
}

/// `cw dashboard --open` hands the opener a page only its owner can read, never the sign-in link
/// (an argument every local user can read in `ps`).
#[test]
fn dashboard_open_keeps_the_sign_in_link_off_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::initialised();
    let mut server = env.start_server();
    let bin = env.outer().join("bin");
    fs_err::create_dir(&bin).unwrap();
    let opener = bin.join("xdg-open");
    let seen = env.outer().join("xdg-open.args");
    fs_err::write(&opener, format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", seen.display()))
        .unwrap();
    fs_err::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = env.cw_with(&env.root(), &["dashboard", "--open", "--json"], &[("PATH", &path)]);
    let url = run.json()["url"].as_str().unwrap().to_owned();
    assert!(url.contains("token=cwd_"), "{url}");
    let args = fs_err::read_to_string(&seen).unwrap();
    assert!(!args.contains("cwd_"), "the link reached the opener's command line: {args}");
    let page = std::path::PathBuf::from(args.trim());
    assert_eq!(page, env.root().join(".cw/dashboard.html"));
    let mode = fs_err::metadata(&page).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the page is its owner's alone");
    let html = fs_err::read_to_string(&page).unwrap();
    assert!(html.contains(&format!("url={}", url.replace('&', "&amp;"))), "{html}");
    server.terminate();
}
