"""``python -m engine serve`` and ``python -m engine ctl`` as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowdeck.engine.cli.ctl import parse_params, parse_value
from tests.support import ROOT


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def wait_listening(path: Path, proc: subprocess.Popen[str], deadline: float = 30.0) -> None:
    """Poll-connect until the engine accepts (or the process dies)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()[1]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(path))
                return
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        time.sleep(0.02)
    raise AssertionError("engine did not start listening")


def serve(path: Path, *args: str, module: str = "flowdeck.engine") -> subprocess.Popen[str]:
    """``python -m <module> serve --socket <path> <args>`` as a process of its own, once
    it accepts connections (killed if it never does)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "serve", "--socket", str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    try:
        wait_listening(path, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def ctl(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowdeck.engine", "ctl", "--socket", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.Popen]]:
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="fd-", dir="/tmp"))
    path = d / "engine.sock"
    # the old `python -m engine` form, kept as an alias
    proc = serve(path, "--demo", "--latency-scale", "0.01", "--concurrency", "2", module="engine")
    try:
        yield path, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_parse_values() -> None:
    assert parse_value("30") == 30
    assert parse_value("1.5") == 1.5
    assert parse_value("null") is None
    assert parse_value("true") is True
    assert parse_value('["a","b"]') == ["a", "b"]
    assert parse_value("llm") == "llm"
    assert parse_value("fast lane") == "fast lane"
    assert parse_params(["name=llm", "ttl=30"]) == {"name": "llm", "ttl": 30}
    assert parse_params(["q=a=b"]) == {"q": "a=b"}
    with pytest.raises(ValueError):
        parse_params(["novalue"])


def test_ctl_against_a_served_engine(served: tuple[Path, subprocess.Popen]) -> None:
    path, _ = served
    r = ctl(path, "hello")
    assert r.returncode == 0, r.stderr
    hello = json.loads(r.stdout)
    assert hello["name"] == "demo" and hello["protocol"] == 1

    r = ctl(path, "snapshot")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    assert snap["seq"] >= 0 and snap["caches"]
    cache = next(iter(snap["caches"]))

    r = ctl(path, "cache.set_ttl", f"name={cache}", "ttl=42")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ttl"] == 42

    router = next(iter(snap["routers"]))
    route = snap["routers"][router]["routes"][0]
    r = ctl(path, "router.pin", f"name={router}", f"route={route}")
    assert r.returncode == 0 and json.loads(r.stdout)["pin"] == route
    r = ctl(path, "router.pin", f"name={router}", "route:=null")
    assert r.returncode == 0 and json.loads(r.stdout)["pin"] is None


def test_ctl_error_response_exits_1(served: tuple[Path, subprocess.Popen]) -> None:
    path, _ = served
    r = ctl(path, "cache.set_ttl", "name=nope", "ttl=5")
    assert r.returncode == 1
    assert "not_found" in r.stderr and r.stdout == ""
    r = ctl(path, "cache.set_ttl", "name=llm", "ttl=-5")
    assert r.returncode == 1 and "bad_params" in r.stderr
    r = ctl(path, "no.such.method")
    assert r.returncode == 1 and "unknown_method" in r.stderr


def test_ctl_without_engine_exits_2(tmp_path: Path) -> None:
    r = ctl(tmp_path / "nothing.sock", "hello")
    assert r.returncode == 2
    assert "no engine is listening" in r.stderr


def test_serve_read_only_and_clean_shutdown() -> None:
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="fd-", dir="/tmp"))
    path = d / "engine.sock"
    proc = serve(path, "--read-only")
    try:
        r = ctl(path, "cache.flush", "name=*")
        assert r.returncode == 1 and "read_only" in r.stderr
        # A second serve on the same live socket refuses to start and leaves it alone.
        second = subprocess.run(
            [sys.executable, "-m", "flowdeck.engine", "serve", "--socket", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(),
            cwd=ROOT,
        )
        assert second.returncode == 1 and "already listening" in second.stderr
        assert ctl(path, "hello").returncode == 0
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert not path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_ctl_usage_errors_name_what_is_wrong(tmp_path: Path) -> None:
    r = ctl(tmp_path / "nothing.sock")
    assert r.returncode == 2
    assert "required: method" in r.stderr and "key=value" not in r.stderr.splitlines()[-1]
    r = ctl(tmp_path / "nothing.sock", "--timeout", "0", "hello")
    assert r.returncode == 2 and "--timeout: must be a number of seconds > 0" in r.stderr


def test_serve_warns_about_an_unset_api_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowdeck.engine.cli.serve import missing_keys
    from flowdeck.engine.settings import EngineSettings

    monkeypatch.delenv("FLOWDECK_TEST_UNSET_KEY", raising=False)
    monkeypatch.setenv("FLOWDECK_TEST_SET_KEY", "sk-test")
    s = EngineSettings.load(
        providers={
            "a": {"kind": "openai", "model": "m", "api_key_env": "FLOWDECK_TEST_UNSET_KEY"},
            "b": {"kind": "openai", "model": "m", "api_key_env": "FLOWDECK_TEST_SET_KEY"},
            "c": {"kind": "simulated"},
        }
    )
    assert missing_keys(s) == [
        "providers.a: $FLOWDECK_TEST_UNSET_KEY is not set; its calls are sent without an API key"
    ]


def test_validator_messages_show_the_value_once() -> None:
    from flowdeck.engine.errors import SettingsError
    from flowdeck.engine.settings import EngineSettings

    with pytest.raises(SettingsError) as info:
        EngineSettings.load(redis_url="http://localhost")
    assert str(info.value).count("http://localhost") == 1


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowdeck.engine", "demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        cwd=ROOT,
    )


def test_demo_bad_arguments_are_named_without_a_traceback() -> None:
    for args, expected in (
        (["--concurrency", "0"], "--concurrency must be >= 1, got 0"),
        (["--latency-scale", "-1"], "--latency-scale must be >= 0"),
        (["--redis-url", "http://x"], "redis_url: must be a redis://"),
    ):
        r = demo("--duration", "0.2", *args)
        assert r.returncode == 2, r.stderr
        assert expected in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "flowdeck.engine", "serve", "--demo", "--concurrency", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        cwd=ROOT,
    )
    assert r.returncode == 2 and "--concurrency must be >= 1" in r.stderr, r.stderr


def test_demo_summary_says_when_redis_was_down() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = demo("--duration", "0.3", "--redis-url", f"redis://127.0.0.1:{port}/0")
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("redis "))
    assert "DOWN: ran with L1 only" in line
