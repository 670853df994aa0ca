#!/usr/bin/env python3
"""Start cost of cw binaries, side by side: `cw mcp` start + initialize + tools/list (median and
p99 of 100, after 5 to warm up), `cw --version` (median of 300) and its page faults.

Usage: python3 tools/measure_start.py BINARY [BINARY ...]   (each in a fresh temp repository)
"""
import json, os, statistics, subprocess, sys, tempfile, time
def repo():
    d = tempfile.mkdtemp()
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    subprocess.run(["git", "init", "-q"], cwd=d, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "i"], cwd=d, check=True, env=env)
    return d
def mcp_start(cw, d, token):
    msgs = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "m", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    t = time.perf_counter()
    p = subprocess.Popen([cw, "mcp"], cwd=d, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ, CW_TOKEN=token), text=True)
    p.stdin.write(json.dumps(msgs[0]) + "\n"); p.stdin.flush()
    p.stdout.readline()
    p.stdin.write(json.dumps(msgs[1]) + "\n" + json.dumps(msgs[2]) + "\n"); p.stdin.flush()
    p.stdout.readline()
    elapsed = time.perf_counter() - t
    p.stdin.close(); p.wait()
    return elapsed
def faults(cw):
    r = subprocess.run(["/usr/bin/time", "-f", "%R", cw, "--version"], capture_output=True, text=True)
    return int(r.stderr.strip().splitlines()[-1])
for cw in sys.argv[1:]:
    d = repo()
    subprocess.run([cw, "init"], cwd=d, check=True, capture_output=True)
    token = open(os.path.join(d, ".cw/operator.token")).read().strip()
    for _ in range(5): mcp_start(cw, d, token)
    m = sorted(mcp_start(cw, d, token) for _ in range(100))
    v = []
    for _ in range(300):
        t = time.perf_counter(); subprocess.run([cw, "--version"], stdout=subprocess.DEVNULL); v.append(time.perf_counter() - t)
    print(f"{cw}: cw mcp start+initialize+tools/list median {statistics.median(m)*1000:.2f} ms p99 {m[98]*1000:.2f} ms; cw --version median {statistics.median(v)*1000:.2f} ms; page faults {faults(cw)}")
