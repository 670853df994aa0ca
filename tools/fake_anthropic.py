#!/usr/bin/env python3
"""A small fake of the Anthropic Messages API, loopback only, for driving the real `claude` CLI
offline in cw's end-to-end tests (facts: ../shared/claude-code.md).

It is stateless: the next scripted step is the number of assistant messages already in the request
(Claude's synthetic "No response requested." after a killed session does not count), so retries
repeat a step and `--resume` continues the script. Side calls (no tools, prompt suggestions,
compaction) get a short text answer without using a step.

The script plays a cw agent: claim_task, write a file in the worktree the claim names, git add,
git commit, report_done, request_merge, end the turn. A task whose title contains `[slow]` makes
the answer to step 1 wait (until the session is resumed), so a test can kill it mid-run.

Usage: fake_anthropic.py --port-file FILE [--log FILE]
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_SECONDS = 120
SYNTHETIC = "No response requested."


def text_of(content):
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(text_of(block.get("content")))
    return "\n".join(parts)


def is_synthetic(message):
    return message.get("role") == "assistant" and text_of(message.get("content")).strip() == SYNTHETIC


def claim_result(messages):
    """The task cw handed out, from the claim_task tool result."""
    claim_ids = set()
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") == "tool_use" and block.get("name", "").endswith("claim_task"):
                claim_ids.add(block.get("id"))
            if block.get("type") == "tool_result" and block.get("tool_use_id") in claim_ids:
                try:
                    return json.loads(text_of(block.get("content")))["task"] or {}
                except (ValueError, KeyError, TypeError):
                    return {}
    return {}


def step_answer(step, messages):
    """(blocks, stop_reason) for a scripted step."""
    task = claim_result(messages)
    task_id = task.get("task_id", "")
    worktree = task.get("worktree") or os.getcwd()
    name = f"fake-{task_id or 'task'}.txt"

    def tool(name, payload):
        return [{"type": "tool_use", "id": "toolu_fake_" + uuid.uuid4().hex[:12], "name": name, "input": payload}], "tool_use"

    if step == 0:
        return tool("mcp__cw__claim_task", {})
    if not task_id:
        return [{"type": "text", "text": "Nothing to do."}], "end_turn"
    if step == 1:
        return tool("Write", {"file_path": os.path.join(worktree, name), "content": f"written by claude for {task_id}\n"})
    if step == 2:
        return tool("Bash", {"command": f"git add {name}", "description": "Stage the file"})
    if step == 3:
        return tool("Bash", {"command": f"git commit -q -m '{task_id}: fake change'", "description": "Commit"})
    if step == 4:
        return tool("mcp__cw__report_done", {"task_id": task_id, "outcome": "done", "summary": f"wrote {name}"})
    if step == 5:
        return tool("mcp__cw__request_merge", {"task_id": task_id})
    return [{"type": "text", "text": f"Task {task_id} is done and queued for merge."}], "end_turn"


def sse(handler, blocks, stop_reason):
    message_id = "msg_fake_" + uuid.uuid4().hex[:16]
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.send_header("cache-control", "no-cache")
    # No length and no chunking: the end of the body is the end of the connection.
    handler.send_header("connection", "close")
    handler.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:12])
    handler.end_headers()
    usage = {"input_tokens": 120, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

    def event(kind, data):
        handler.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())

    event("message_start", {"type": "message_start", "message": {
        "id": message_id, "type": "message", "role": "assistant", "model": "claude-fake",
        "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}})
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}})
        else:
            event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
            event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
        event("content_block_stop", {"type": "content_block_stop", "index": index})
    event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                            "usage": {"output_tokens": 30}})
    event("message_stop", {"type": "message_stop"})
    handler.wfile.flush()
    handler.close_connection = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path = None
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def record(self, entry):
        if self.log_path:
            with self.lock, open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.startswith("/v1/messages"):
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        messages = [m for m in body.get("messages", []) if m.get("role") in ("user", "assistant")]
        first_user = text_of(messages[0].get("content")) if messages else ""
        last_user = text_of(messages[-1].get("content")) if messages and messages[-1].get("role") == "user" else ""
        side = not body.get("tools") or "SUGGESTION MODE" in last_user or "summary of the conversation" in last_user.lower()
        if side:
            self.record({"kind": "side"})
            sse(self, [{"type": "text", "text": "ok"}], "end_turn")
            return
        step = sum(1 for m in messages if m.get("role") == "assistant" and not is_synthetic(m))
        resumed = any(is_synthetic(m) for m in messages) or any(
            m.get("role") == "user" and "was interrupted" in text_of(m.get("content")) for m in messages)
        self.record({"kind": "step", "step": step, "session": self.headers.get("x-claude-code-session-id"),
                     "resumed": resumed})
        if step == 1 and "[slow]" in first_user and not resumed:
            time.sleep(SLOW_SECONDS)
        blocks, stop_reason = step_answer(step, messages)
        sse(self, blocks, stop_reason)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log")
    args = parser.parse_args()
    Handler.log_path = args.log
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    temp = args.port_file + ".tmp"
    with open(temp, "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(temp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
