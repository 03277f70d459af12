"""Load test: N concurrent conversations through ONE Chatbot, as the app serves them.

    .venv/bin/python scripts/load_test.py --sessions 8 --turns 25                # embedded
    .venv/bin/python scripts/load_test.py --sessions 8 --turns 25 --start-server # a new server
    .venv/bin/python scripts/load_test.py --chroma-url http://127.0.0.1:8000     # your server

Every session is a thread with its own topic from the seed articles (heat cramps, cervical
dystonia, spasticity after stroke...): an opening question, then follow-ups that only make
sense from its own history ("What causes them?", "How is it treated?"). All sessions share
one :class:`~chatbot.chain.Chatbot` (one encoder, one index reader, one chain), like the
app's replicas do. Checked for every turn: the reply is not an error, and every follow-up's
standalone query names the session's own topic and no other session's (no cross-talk).
Median and p95 latency (wall time of ``Chatbot.ask`` in the asking thread) are recorded.

If the store holds no index, one is built from the two seed articles (in a temporary
state directory, or --state-dir). An existing server index is used as it is, never synced.
Results are printed and written to docs/bench/load-<embedded|server>.json (or --out).
Exit status 1 on any error or cross-talk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "data" / "articles"

# (topic, opening question): the opening question's subject phrase is the topic.
TOPICS: list[tuple[str, str]] = [
    ("heat cramps", "What are heat cramps?"),
    ("cervical dystonia", "What is cervical dystonia?"),
    ("spasticity after stroke", "What is spasticity after stroke?"),
    ("night cramps", "Why do night cramps happen?"),
    ("pregnancy cramps", "What are pregnancy cramps?"),
    ("baclofen", "What is baclofen used for?"),
    ("dehydration", "What is dehydration?"),
    ("peripheral artery disease", "What is peripheral artery disease?"),
    ("multiple sclerosis", "What is multiple sclerosis?"),
    ("electrolyte imbalance", "What is an electrolyte imbalance?"),
    ("botulinum toxin", "What is botulinum toxin used for?"),
    ("claudication", "What is claudication?"),
]

# Follow-ups that name no topic: only the session's history can resolve them.
FOLLOW_UPS: list[str] = [
    "What causes them?",
    "How is it treated?",
    "How can I prevent them?",
    "When should I see a doctor about it?",
    "Is it serious?",
    "What are the symptoms of it?",
    "Which medicines are used for that?",
    "How long does it last?",
    "Is it common?",
    "Can stretching help with it?",
]


def question_for(topic_index: int, turn: int) -> str:
    """The question a session with ``TOPICS[topic_index]`` asks at ``turn`` (0-based)."""
    if turn == 0:
        return TOPICS[topic_index][1]
    return FOLLOW_UPS[(turn - 1 + topic_index) % len(FOLLOW_UPS)]


# --- a real Chroma server -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_command() -> str:
    beside = Path(sys.executable).with_name("chroma")
    if beside.exists():
        return str(beside)
    found = shutil.which("chroma")
    if found is None:
        raise RuntimeError("the `chroma` command is not installed (pip install chromadb)")
    return found


def heartbeat(host: str, port: int) -> bool:
    import chromadb

    from chatbot.store import chroma_settings

    try:
        chromadb.HttpClient(host=host, port=port, settings=chroma_settings()).heartbeat()
    except Exception:
        return False
    return True


class ChromaServer:
    """``chroma run --path PATH --host 127.0.0.1 --port PORT``: start, stop, restart.

    A restart uses the same port and path, so clients (and their cached collection
    objects) reconnect to the same data.
    """

    def __init__(self, path: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.path = path
        self.host = host
        self.port = port or free_port()
        self.log_path = path.with_name(path.name + ".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 90.0) -> ChromaServer:
        self.path.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    chroma_command(),
                    "run",
                    "--path",
                    str(self.path),
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while not heartbeat(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"chroma run did not come up on {self.url}:\n{tail}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Crash it: SIGKILL, no shutdown."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> ChromaServer:
        self.stop()
        return self.start()

    def __enter__(self) -> ChromaServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the load -------------------------------------------------------------------------


@dataclass
class TurnRecord:
    session: str
    topic: str
    turn: int
    question: str
    kind: str
    query: str
    ms: float
    error: str = ""


def converse(
    bot: Any, session: str, topic_index: int, turns: int, start: threading.Barrier
) -> list[TurnRecord]:
    """One conversation, asked from its own thread."""
    topic = TOPICS[topic_index][0]
    records: list[TurnRecord] = []
    start.wait()
    for turn in range(turns):
        question = question_for(topic_index, turn)
        began = time.perf_counter()
        try:
            reply = bot.ask(question, session_id=session)
            kind, query, error = reply.kind, reply.query, ""
            if kind == "error":
                error = reply.answer[:200]
        except Exception as exc:  # Chatbot.ask must not raise; count it if it does
            kind, query, error = "exception", "", repr(exc)
        ms = (time.perf_counter() - began) * 1000
        records.append(TurnRecord(session, topic, turn, question, kind, query, round(ms, 3), error))
    return records


def cross_talk(records: list[TurnRecord]) -> list[dict[str, Any]]:
    """Follow-ups whose query misses the session's topic or names another session's."""
    topics = {r.session: r.topic for r in records}
    problems = []
    for record in records:
        if record.turn == 0 or record.kind in ("error", "exception"):
            continue
        query = record.query.lower()
        others = sorted(t for s, t in topics.items() if s != record.session and t.lower() in query)
        if record.topic.lower() not in query or others:
            problems.append({**asdict(record), "other_topics": others})
    return problems


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 200 values is the 190th smallest)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def run_load(bot: Any, sessions: int, turns: int) -> tuple[dict[str, Any], list[TurnRecord]]:
    """Run ``sessions`` threads of ``turns`` turns each through ``bot``; summary and turns."""
    if not 1 <= sessions <= len(TOPICS):
        raise ValueError(f"sessions must be 1..{len(TOPICS)} (one distinct topic each)")
    if turns < 1:
        raise ValueError("turns must be at least 1")
    start = threading.Barrier(sessions)
    results: list[list[TurnRecord]] = [[] for _ in range(sessions)]

    def work(index: int) -> None:
        results[index] = converse(bot, f"load-{index}", index, turns, start)

    threads = [threading.Thread(target=work, args=(i,), name=f"load-{i}") for i in range(sessions)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    records = [r for session in results for r in session]
    latencies = [r.ms for r in records]
    errors = [asdict(r) for r in records if r.kind in ("error", "exception")]
    problems = cross_talk(records)
    follow_ups = [r for r in records if r.turn > 0 and r.kind not in ("error", "exception")]
    per_session = []
    for index, session in enumerate(results):
        per_session.append(
            {
                "session": f"load-{index}",
                "topic": TOPICS[index][0],
                "kinds": dict(Counter(r.kind for r in session)),
                "median_ms": round(statistics.median(r.ms for r in session), 1),
                "sample_queries": sorted({r.query for r in session if r.turn > 0})[:3],
            }
        )
    summary: dict[str, Any] = {
        "sessions": sessions,
        "turns": turns,
        "requests": len(records),
        "errors": len(errors),
        "kinds": dict(Counter(r.kind for r in records)),
        "follow_ups": len(follow_ups),
        "follow_ups_resolved": len(follow_ups) - len(problems),
        "cross_talk": len(problems),
        "latency_ms": {
            "median": round(statistics.median(latencies), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies), 1),
            "mean": round(statistics.fmean(latencies), 1),
        },
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(records) / wall, 1),
        "per_session": per_session,
        "error_samples": errors[:5],
        "cross_talk_samples": problems[:5],
    }
    return summary, records


# --- command line ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/load_test.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sessions", type=int, default=8, help=f"1..{len(TOPICS)}")
    parser.add_argument("--turns", type=int, default=25)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--chroma-url", help="a running Chroma server (http://host:port)")
    where.add_argument(
        "--start-server", action="store_true", help="start a fresh `chroma run` for the test"
    )
    parser.add_argument("--state-dir", type=Path, help="keep state here (default: a temp dir)")
    parser.add_argument("--out", type=Path, help="default: docs/bench/load-<store>.json")
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser


def seed_data(data_dir: Path) -> Path:
    articles = data_dir / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    for path in SEEDS.iterdir():
        if not (articles / path.name).exists():
            shutil.copy2(path, articles / path.name)
    return data_dir


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    from chatbot.chain import build_chatbot
    from chatbot.config import get_settings
    from chatbot.embed import load_encoder
    from chatbot.store import make_backend
    from ingest.sync import sync
    from scripts.bench_common import machine, write

    work = Path(tempfile.mkdtemp(prefix="load-test-"))
    state = args.state_dir or work / "state"
    server: ChromaServer | None = None
    try:
        url = args.chroma_url
        if args.start_server:
            server = ChromaServer(work / "chroma").start()
            url = server.url
        store = "server" if url else "embedded"
        settings = get_settings(
            data_dir=seed_data(work / "data"),
            state_dir=state,
            chroma_url=url,
            model_cache_dir=REPO / ".state" / "models",
        )
        encoder = load_encoder(settings)
        backend = make_backend(settings)
        built = False
        if backend.read_pointer() is None:
            report = sync(settings, encoder=encoder, backend=backend)
            if not report.ok:
                print(f"error: building the seed index failed: {report.failed}", file=sys.stderr)
                return 2
            built = True
        pointer = backend.read_pointer()
        assert pointer is not None
        bot = build_chatbot(settings, encoder=encoder, backend=backend)
        bot.warm()
        bot.ask("What is a muscle spasm?", session_id="warm-up")
        bot.reset("warm-up")

        load_before = [round(x, 2) for x in os.getloadavg()]
        summary, _ = run_load(bot, args.sessions, args.turns)
        command = "python scripts/load_test.py " + " ".join(argv or sys.argv[1:])
        data: dict[str, Any] = {
            "command": command.strip(),
            "store": store,
            "backend": backend.description,
            "index": {
                "version": pointer.version,
                "articles": pointer.articles,
                "chunks": pointer.chunks,
                "built_for_this_run": built,
            },
            "machine": machine(),
            "load_average_before": load_before,  # other work on the machine skews latency
            "latency_note": "wall time of Chatbot.ask in each session's thread, all sessions "
            "sharing one Chatbot (one encoder, one reader) in one process",
            **summary,
        }
        print(json.dumps(data, indent=2), file=out)
        if not args.no_write:
            write(args.out or REPO / "docs" / "bench" / f"load-{store}.json", data)
        ok = summary["errors"] == 0 and summary["cross_talk"] == 0
        if not ok:
            print("FAILED: errors or cross-talk (see above)", file=sys.stderr)
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
