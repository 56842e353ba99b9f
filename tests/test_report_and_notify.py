"""The report a lead is sent after a rehearsal, opened in a real browser, and the on-call
channel told of a breach — as a user runs them: the real command line in a child process, a
fresh sandbox, a webhook receiver on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flexmigrate.sandbox import manage
from tests.browser import open_report
from tests.conftest import REPO, SANDBOX_RUNBOOK, run_cli


class _Receiver(ThreadingHTTPServer):
    posts: list[dict[str, Any]]


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        assert isinstance(self.server, _Receiver)
        self.server.posts.append({"path": self.path, "body": body})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver(("127.0.0.1", 0), _Hook)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _runbook_with(tmp_path: Path, extra: str) -> Path:
    """The sandbox runbook (a test fixture), its relative paths made absolute, plus ``extra``."""
    text = SANDBOX_RUNBOOK.read_text()
    text = text.replace("manifests: ../../runbooks/", f"manifests: {REPO / 'runbooks'}/")
    path = tmp_path / "rehearse.yaml"
    path.write_text(text + "\n" + extra)
    return path


def _journal(state_dir: Path) -> list[dict[str, Any]]:
    lines = (state_dir / "flexdesk-sandbox" / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_report_after_a_rehearsal_renders_in_a_browser_and_tells_the_story(
    tmp_path: Path,
) -> None:
    done = run_cli(
        ["--runbook", str(SANDBOX_RUNBOOK), "rehearse"],
        env={"TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # a rehearsal keeps its state in its sandbox directory
    state_dir = next(tmp_path.glob("flexmigrate-rehearsal-*/sandbox/state"))
    report = tmp_path / "r.html"

    # Offline: the sandbox is gone and AWS points nowhere; the report needs neither.
    made = run_cli(
        ["--state-dir", str(state_dir), "--runbook", str(SANDBOX_RUNBOOK), "report", str(report)],
        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}"},
        cwd=tmp_path,
    )

    assert made.returncode == 0, made.stdout + made.stderr
    state = json.loads((state_dir / "flexdesk-sandbox" / "state.json").read_text())
    steps = {(p["id"], s["id"]): s["outputs"] for p in state["phases"] for s in p["steps"]}
    journal = _journal(state_dir)
    evaluations = [e for e in journal if e["event"] == "gate_evaluation"]
    seen = open_report(report)
    assert seen.errors == [] and seen.requests == []
    assert seen.evaluations == len(evaluations) > 0  # one point per gate evaluation
    assert seen.chart_width > 600
    assert seen.phone_overflow <= 0, "the page is wider than a phone"
    text = seen.text
    assert steps["phase-1", "cluster"]["cluster_arn"] in text
    for group in ("system", "application", "monitoring"):
        assert steps["phase-1", "node-groups"]["nodegroups"][group]["arn"] in text
    assert steps["phase-3", "target-group"]["target_group_arn"] in text
    assert steps["phase-5", "backup-ami"]["image_id"] in text
    for percent in (10, 25, 50, 100):
        assert f"shift-{percent}: EKS {percent} % — passed" in text
    for evaluation in evaluations:  # each reading of the bake is listed
        five = next(g for g in evaluation["gates"] if g["gate"] == "eks-5xx")
        if "eks_rate" in five["values"]:
            assert f"{five['values']['eks_rate'] * 100:.2f} %" in text
    assert "flexmigrate rollback decommission" in text
    assert "Monthly cost, before and after" in text
    prices = (REPO / "runbooks" / "prices" / "af-south-1.yaml").read_text()
    assert f"dated {_price_date(prices)}" in text
    assert "before total" in text and "after total" in text
    assert "The plan's estimate" in text


def _price_date(table: str) -> str:
    for line in table.splitlines():
        if line.startswith("date:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise AssertionError("the price table has no date")


def test_a_breach_is_told_once_and_an_unreachable_target_is_journaled(
    tmp_path: Path, receiver: _Receiver
) -> None:
    port = receiver.server_address[1]
    oncall = f"http://127.0.0.1:{port}/services/T0001/B0002/s3cr3t-webhook-path"
    pager = f"http://127.0.0.1:{_closed_port()}/hooks/an0ther-s3cr3t"
    runbook = _runbook_with(
        tmp_path,
        "notify:\n"
        "  attempt_timeout: 1s\n"
        "  budget: 3s\n"
        "  targets:\n"
        "    - {name: oncall, format: slack, url_env: ONCALL_WEBHOOK,"
        " events: [breached, failed, paused]}\n"
        "    - {name: pager, format: json, url_env: PAGER_WEBHOOK, events: [breached]}\n",
    )
    hooks = {"ONCALL_WEBHOOK": oncall, "PAGER_WEBHOOK": pager}
    report = tmp_path / "r.json"

    done = run_cli(
        [
            *("--runbook", str(runbook), "rehearse", "--inject", "eks-5xx=0.2@25"),
            *("--keep", "--report", str(report)),
        ],
        env={"TMPDIR": str(tmp_path), **hooks},
        cwd=tmp_path,
        timeout=400,
    )

    document = json.loads(report.read_text())
    sandbox = Path(str(document["summary"]["sandbox"]))
    state_dir = sandbox / "state"
    try:
        assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-3000:]
        # One message, to the receiver that is up: the failing gate and where traffic went.
        assert len(receiver.posts) == 1, receiver.posts
        message = receiver.posts[0]["body"]["text"]
        assert "eks-5xx" in message and "Traffic restored to EC2 100 % / EKS 0 %" in message
        # The receiver that is down: the run still ended as a breach, and it is on record.
        undelivered = [e for e in _journal(state_dir) if e["event"] == "notification_undelivered"]
        assert [(u["target"], u["kind"]) for u in undelivered] == [("pager", "breached")]
        assert "'breached' to pager was not delivered" in done.stderr
        # The report draws the breach and the restore, and lists the undelivered message.
        migration = document["migration"]
        shifts = migration["traffic"]["steps"]
        assert [s["outcome"] for s in shifts] == ["passed", "breached"]
        assert [m["kind"] for m in shifts[-1]["markers"]] == ["breach", "restore"]
        assert migration["undelivered_notifications"][0]["target"] == "pager"

        # plan and --dry-run post nothing, whatever the runbook's targets want.
        env = {**manage.environment(sandbox), **hooks}
        for args in (["plan", "all"], ["run", "traffic-shift", "--dry-run"]):
            planned = run_cli(
                ["--runbook", str(runbook), "--state-dir", str(state_dir), *args],
                env=env,
                cwd=tmp_path,
            )
            assert planned.returncode in (0, 3), planned.stdout + planned.stderr
        assert len(receiver.posts) == 1
        after = [e for e in _journal(state_dir) if e["event"] == "notification_undelivered"]
        assert len(after) == 1
    finally:
        manage.down(sandbox)

    # The webhook URLs are secrets: nowhere in the output, the state, the journal, the report.
    texts = [done.stdout, done.stderr, report.read_text()]
    texts += [p.read_text(errors="replace") for p in state_dir.rglob("*") if p.is_file()]
    for text in texts:
        assert "s3cr3t-webhook-path" not in text and "an0ther-s3cr3t" not in text
