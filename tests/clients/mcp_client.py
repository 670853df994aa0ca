"""Drives `cw mcp` (stdio) or `cw run` (HTTP) with the official Python MCP SDK.

Used by tests/it/mcp.rs; prints one JSON object with what happened, which the Rust test asserts.
Subcommands:
  flow   the agent life cycle and the refusals, for one transport and protocol mode
  byo    a user-run agent's claim, commit in its worktree, report and merge request
  drain  many concurrent clients claim and finish tasks until none is ready
  bench  claim_task round-trip latencies
  cancel ask_user, then give up waiting (the client sends notifications/cancelled)
  wait   ask_user and report how it ended (used while the server is shut down)
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


def client_for(args, token, mode=None):
    mode = mode or args.mode
    if args.transport == "stdio":
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        if token:
            env["CW_TOKEN"] = token
        params = StdioServerParameters(command=args.cw, args=["mcp"], env=env, cwd=args.repo)
        return Client(params, mode=mode)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if args.transport == "sse":
        return Client(sse_client(args.url, headers=headers, timeout=60), mode=mode)
    transport = streamable_http_client(args.url, http_client=httpx2.AsyncClient(headers=headers, timeout=60))
    return Client(transport, mode=mode)


def outcome(result):
    text = result.content[0].text if result.content else ""
    return {"is_error": bool(result.is_error), "text": text, "data": result.structured_content}


def cw(args, *argv):
    run = subprocess.run([args.cw, *argv], cwd=args.repo, capture_output=True, text=True)
    return {"code": run.returncode, "stdout": run.stdout, "stderr": run.stderr}


async def answer_when_asked(args, answer, delay):
    """Another process (the `cw` CLI) answers the first open question after `delay` seconds."""
    while True:
        inbox = json.loads(cw(args, "inbox", "--json")["stdout"])
        if inbox:
            break
        await anyio.sleep(0.02)
    await anyio.sleep(delay)
    question = inbox[0]["id"]
    first = cw(args, "answer", question, answer)
    second = cw(args, "answer", question, "a second answer")
    return question, first, second


async def flow(args):
    out = {}
    async with client_for(args, args.token) as client:
        tools = await client.list_tools()
        out["tools"] = sorted(t.name for t in tools.tools)
        claim = outcome(await client.call_tool("claim_task", {}))
        out["claim"] = claim
        task = claim["data"]["task"]["task_id"]
        out["again"] = outcome(await client.call_tool("claim_task", {}))
        out["progress"] = outcome(await client.call_tool("report_progress", {"task_id": task, "message": "reading the code"}))
        out["not_mine"] = outcome(await client.call_tool("report_progress", {"task_id": args.other_task, "message": "x"}))
        out["unknown"] = outcome(await client.call_tool("report_progress", {"task_id": "t999", "message": "x"}))
        out["bad_id"] = outcome(await client.call_tool("report_progress", {"task_id": "banana", "message": "x"}))
        out["wrong_type"] = outcome(await client.call_tool("report_progress", {"task_id": 5, "message": "x"}))
        out["missing_field"] = outcome(await client.call_tool("report_done", {"task_id": task}))
        out["oversized"] = outcome(await client.call_tool("report_progress", {"task_id": task, "message": "x" * 3000}))
        out["operator_tool"] = outcome(await client.call_tool("answer_question", {"question_id": "q1", "answer": "x"}))
        try:
            await client.call_tool("no_such_tool", {})
            out["unknown_tool"] = "no error"
        except Exception as err:  # a JSON-RPC error: the request cannot be routed
            out["unknown_tool"] = type(err).__name__ + ": " + str(err)

        progress = []

        async def on_progress(value, total, message):
            progress.append(message)

        results = {}

        async def ask():
            results["ask"] = outcome(await client.call_tool(
                "ask_user", {"question": "Which colour should the button be?", "options": ["red", "blue"]},
                progress_callback=on_progress))

        async def answer():
            results["answer"] = await answer_when_asked(args, "blue", args.answer_delay)

        async with anyio.create_task_group() as group:
            group.start_soon(ask)
            group.start_soon(answer)
        out["ask"] = results["ask"]
        out["answer_cli"] = results["answer"]
        out["progress_messages"] = progress
        out["done"] = outcome(await client.call_tool("report_done", {"task_id": task, "summary": "made it blue", "outcome": "done"}))
        out["merge"] = outcome(await client.call_tool("request_merge", {"task_id": task}))
        agent = json.loads(cw(args, "agent", "list", "--json")["stdout"])
        me = [a["id"] for a in agent if a["task"] == task][0]
        cw(args, "send", me, "please also update the docs")
        out["messages"] = outcome(await client.call_tool("get_messages", {}))
        out["messages_again"] = outcome(await client.call_tool("get_messages", {}))
    if args.operator_token:
        async with client_for(args, args.operator_token) as operator:
            tools = await operator.list_tools()
            out["operator_tools"] = sorted(t.name for t in tools.tools)
            out["operator_status"] = outcome(await operator.call_tool("status", {}))
            out["operator_add"] = outcome(await operator.call_tool("add_task", {"title": "added over MCP", "after": [task]}))
            out["operator_agent_tool"] = outcome(await operator.call_tool("claim_task", {}))
            out["op_page1"] = outcome(await operator.call_tool("list_tasks", {"limit": 1}))
            cursor = out["op_page1"]["data"]["next_cursor"]
            out["op_page2"] = outcome(await operator.call_tool("list_tasks", {"limit": 1, "cursor": cursor}))
            out["op_bad_state"] = outcome(await operator.call_tool("list_tasks", {"state": "banana"}))
            out["op_show"] = outcome(await operator.call_tool("show_task", {"task_id": task}))
            out["op_missing"] = outcome(await operator.call_tool("show_task", {"task_id": "t999"}))
            out["op_cancel"] = outcome(await operator.call_tool("cancel_task", {"task_id": args.other_task}))
            out["op_retry"] = outcome(await operator.call_tool("retry_task", {"task_id": args.other_task}))
            out["op_diff"] = outcome(await operator.call_tool("diff", {"target": task}))
            out["op_restart"] = outcome(await operator.call_tool("restart_agent", {"agent_id": me}))
            out["op_unknown_arg"] = outcome(await operator.call_tool("status", {"verbose": True}))
            out["op_questions"] = outcome(await operator.call_tool("list_questions", {}))
            out["op_questions_full"] = outcome(await operator.call_tool("list_questions", {"full": True}))
    return out


async def byo(args):
    """A user-run agent: claims, commits in the worktree cw gave it, reports done, asks to merge."""
    out = {}
    async with client_for(args, args.token) as client:
        claim = outcome(await client.call_tool("claim_task", {}))
        out["claim"] = claim
        work = (claim["data"] or {}).get("task") or {}
        task = work.get("task_id")
        if work.get("worktree"):
            with open(os.path.join(work["worktree"], "byo.txt"), "w") as f:
                f.write("made by hand\n")
            git = ["git", "-C", work["worktree"], "-c", "user.name=BYO", "-c", "user.email=byo@example.com"]
            subprocess.run([*git, "add", "byo.txt"], check=True)
            subprocess.run([*git, "commit", "-q", "-m", "byo work"], check=True)
        out["done"] = outcome(await client.call_tool("report_done", {"task_id": task, "summary": "by hand", "outcome": "done"}))
        out["merge"] = outcome(await client.call_tool("request_merge", {"task_id": task}))
    return out


async def drain(args):
    tokens = json.load(open(args.tokens))
    claimed = []

    async def worker(token, transport):
        local = argparse.Namespace(**vars(args))
        local.transport = transport
        async with client_for(local, token) as client:
            while True:
                result = await client.call_tool("claim_task", {})
                if result.is_error:
                    raise RuntimeError(result.content[0].text)
                task = result.structured_content["task"]
                if task is None:
                    return
                claimed.append(task["task_id"])
                done = await client.call_tool("report_done", {"task_id": task["task_id"], "summary": "ok", "outcome": "done"})
                if done.is_error:
                    raise RuntimeError(done.content[0].text)

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for token in tokens["http"]:
            group.start_soon(worker, token, "http")
        for token in tokens["stdio"]:
            group.start_soon(worker, token, "stdio")
    return {"claimed": claimed, "seconds": time.monotonic() - started}


async def multi(args):
    """Several agents wait in ask_user at once; each must receive the answer to its own question."""
    tokens = json.load(open(args.tokens))["http"]
    got = {}

    async def agent(index, token):
        async with client_for(args, token) as client:
            await client.call_tool("claim_task", {})
            result = await client.call_tool("ask_user", {"question": f"What is the code for agent {index}?"})
            got[index] = result.structured_content

    async def human():
        answered = set()
        while len(answered) < len(tokens):
            for question in json.loads(cw(args, "inbox", "--json")["stdout"]):
                if question["id"] not in answered:
                    index = question["question"].split("agent ")[1].rstrip("?")
                    cw(args, "answer", question["id"], f"code-{index}")
                    answered.add(question["id"])
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as group:
        for index, token in enumerate(tokens):
            group.start_soon(agent, index, token)
        group.start_soon(human)
    return {str(k): v for k, v in got.items()}


async def bench(args):
    times = []
    async with client_for(args, args.token) as client:
        for _ in range(args.n):
            started = time.perf_counter()
            result = await client.call_tool("claim_task", {})
            times.append(time.perf_counter() - started)
            task = result.structured_content["task"]
            await client.call_tool("report_done", {"task_id": task["task_id"], "summary": "ok", "outcome": "done"})
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1000, "p99_ms": times[len(times) * 99 // 100] * 1000, "n": len(times)}


async def cancel(args):
    async with client_for(args, args.token) as client:
        await client.call_tool("claim_task", {})
        started = time.monotonic()
        with anyio.move_on_after(args.after):
            await client.call_tool("ask_user", {"question": "Will you answer this?"})
        # The connection must still work after the cancellation.
        after = outcome(await client.call_tool("get_messages", {}))
        return {"gave_up_after": time.monotonic() - started, "still_works": not after["is_error"]}


async def wait(args):
    async with client_for(args, args.token) as client:
        await client.call_tool("claim_task", {})
        print(json.dumps({"asking": True}), flush=True)
        started = time.monotonic()
        try:
            result = outcome(await client.call_tool("ask_user", {"question": "Still there?"}))
        except Exception as err:
            result = {"exception": type(err).__name__ + ": " + str(err)}
        result["seconds"] = time.monotonic() - started
        return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["flow", "byo", "drain", "multi", "bench", "cancel", "wait"])
    parser.add_argument("--transport", choices=["stdio", "http", "sse"], default="stdio")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--cw", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--operator-token")
    parser.add_argument("--other-task", default="t2")
    parser.add_argument("--answer-delay", type=float, default=1.5)
    parser.add_argument("--tokens")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--after", type=float, default=1.0)
    args = parser.parse_args()
    result = asyncio.run({"flow": flow, "byo": byo, "drain": drain, "multi": multi, "bench": bench, "cancel": cancel, "wait": wait}[args.command](args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
