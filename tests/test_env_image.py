"""`scalecloud env` against real local clusters, and the worker image recipe of `image`."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

from scalecloud.infra import image, versions
from test_cli_errors import assert_one_line_error

FAKE = "0.0.1"
# Loaded by every Python process of the cluster (PYTHONPATH): the first worker process to
# ask for scikit-learn's version claims the file and reports FAKE; every other process
# (the CLI, the supervisor with the scheduler, the other worker) reports the real one.
SITECUSTOMIZE = textwrap.dedent(
    """
    import importlib.metadata
    import multiprocessing
    import os

    _real = importlib.metadata.version

    def _odd_one():
        if multiprocessing.parent_process() is None:
            return False
        claim, me = os.environ["FAKE_VERSION_CLAIM"], str(os.getpid())
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            with open(claim) as f:
                return f.read() == me
        os.write(fd, me.encode())
        os.close(fd)
        return True

    def version(name):
        if name == "scikit-learn" and _odd_one():
            return "@FAKE@"
        return _real(name)

    importlib.metadata.version = version
    """
).replace("@FAKE@", FAKE)


def test_env_shows_a_workers_different_version_highlighted_with_the_fix(cli, tmp_path):
    cli("up", "--name", "same", "--workers", "1", "--idle-timeout", "0", check=True)
    same = cli("env", "--name", "same", "--json", check=True).json()
    assert same["mismatches"] == [] and same["hint"] is None
    assert "matches the client" in cli("env", "--name", "same", check=True).out

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    cli.env.update(PYTHONPATH=str(site), FAKE_VERSION_CLAIM=str(tmp_path / "claim"))
    cli("up", "--name", "odd", "--workers", "2", "--idle-timeout", "0", check=True)

    data = cli("env", "--name", "odd", "--json", check=True).json()
    real = version("scikit-learn")
    assert data["cluster"] == "odd" and data["client"]["scikit-learn"] == real
    assert sorted(w["scikit-learn"] for w in data["workers"].values()) == sorted([FAKE, real])
    [mismatch] = data["mismatches"]
    assert mismatch["package"] == "scikit-learn" and mismatch["matters"] is True
    assert mismatch["client"] == real and mismatch["scheduler"] == real
    assert "scalecloud image" in data["hint"]

    text = cli("env", "--name", "odd", check=True).out
    row = next(line for line in text.splitlines() if "scikit-learn" in line and "│" in line)
    assert "✗ scikit-learn" in row and FAKE in row and real in row
    assert f"✗ scikit-learn: client {real}, scheduler {real}, workers {FAKE}, {real}" in text
    assert "Fix:" in text and "scalecloud image --build TAG" in text

    # submit compares versions first: a warning with the fix, or with --strict-versions a
    # refusal before anything runs; the run record says which.
    script = tmp_path / "hello.py"
    marker = tmp_path / "ran"
    script.write_text(f"open({str(marker)!r}, 'w').write('x')\nprint('hello from the script')\n")
    refused = cli("submit", str(script), "--name", "odd", "--strict-versions")
    assert refused.code != 0 and "scikit-learn" in refused.err and "Traceback" not in refused.err
    assert "scalecloud image" in refused.err and not marker.exists()
    warned = cli("submit", str(script), "--name", "odd", check=True)
    assert "hello from the script" in warned.out and marker.exists()
    assert "scikit-learn" in warned.err and "scalecloud image" in warned.err
    runs = cli("runs", "--json", check=True).json()
    assert [r["status"] for r in runs[:2]] == ["succeeded", "refused"]
    # Several clusters and no --name: the usual one-line error with the hint.
    assert_one_line_error(cli("env"), "several clusters are running", "--name")


def test_env_without_a_cluster_shows_the_client(cli):
    data = cli("env", "--json", check=True).json()
    assert data["cluster"] is None and data["scheduler"] is None and data["workers"] == {}
    assert data["client"] == versions.client_versions()
    for name in ("python", "dask", "distributed", "dask-ml", "scikit-learn", "numpy", "pandas"):
        assert data["client"][name]
    assert "No cluster is running" in cli("env", check=True).out
    assert_one_line_error(cli("env", "--name", "ghost"), "no cluster named 'ghost'")


def test_the_mismatch_is_highlighted_in_colour():
    from rich.console import Console
    from scalecloud.cli.render import versions_table

    client = {"python": "3.11.7", "scikit-learn": "1.9.1", "scipy": "1.17.1"}
    table = versions.VersionTable(
        client=client,
        scheduler=dict(client),
        workers={"tcp://127.0.0.1:1": dict(client), "tcp://127.0.0.1:2": {**client, "scikit-learn": "1.5.0", "scipy": "1.0.0"}},
    )  # fmt: skip
    found = versions.mismatches(table)
    console = Console(record=True, force_terminal=True, color_system="truecolor", width=200)
    console.print(versions_table(table, found, "c"))
    html = console.export_html(inline_styles=True)
    assert 'color: #800000; font-weight: bold">1.5.0' in html  # required: bold red
    assert 'color: #808000">1.0.0' in html  # optional: yellow
    assert "✗ scikit-learn" in html and "✗ scipy" in html and "✗ python" not in html


def test_image_pins_the_installed_versions_on_the_official_image(cli, tmp_path):
    out = tmp_path / "img"
    data = cli(
        "image", "-o", str(out), "--pip", "scipy", "--pip", "no-such-pkg-xyz>=1", "--json",
        check=True,
    ).json()  # fmt: skip
    pins = dict(
        line.split("==") for line in (out / "requirements.txt").read_text().splitlines() if "==" in line
    )  # fmt: skip
    for name in (*image.WORKER_PACKAGES, "dask", "distributed", "cloudpickle", "scipy"):
        assert pins[name] == version(name), name
    assert pins == data["pins"]
    assert "no-such-pkg-xyz>=1" in (out / "requirements.txt").read_text().splitlines()
    python_minor = ".".join(map(str, sys.version_info[:2]))
    base = f"ghcr.io/dask/dask:{version('distributed')}-py{python_minor}"
    dockerfile = (out / "Dockerfile").read_text()
    assert data["base"] == base and f"FROM {base}\n" in dockerfile
    assert "pip install --no-cache-dir -r /tmp/scalecloud-requirements.txt" in dockerfile
    assert data["built"] is None and sorted(os.listdir(out)) == ["Dockerfile", "requirements.txt"]


def test_image_build_without_an_engine_fails_with_the_hint_and_writes_nothing(cli, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    cli.env["PATH"] = str(empty)
    out = tmp_path / "img"
    result = cli("image", "--build", "me/workers:1", "-o", str(out))
    assert_one_line_error(result, "neither docker nor podman is on PATH", "Docker", "Podman")
    assert result.out == "" and not out.exists()
    push = cli("image", "--push", "-o", str(out))
    assert_one_line_error(push, "--push needs", "--build TAG")
    assert not out.exists()


def test_image_build_and_push_run_the_engine(cli, tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "engine.log"
    bin_dir.mkdir()
    fake = bin_dir / "podman"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    cli.env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    if any((Path(d) / "docker").exists() for d in ("/usr/bin", "/bin")):
        cli.env["PATH"] = str(bin_dir)  # so that the fake podman is the engine found
    out = tmp_path / "img"
    data = cli(
        "image", "--build", "me/workers:1", "--push", "-o", str(out), "--json", check=True
    ).json()
    assert (data["engine"], data["built"], data["pushed"]) == ("podman", "me/workers:1", True)
    assert log.read_text().splitlines() == [f"build -t me/workers:1 {out}", "push me/workers:1"]


def test_image_refuses_an_extra_that_contradicts_a_pin(cli, tmp_path):
    result = cli("image", "--pip", "numpy<1", "-o", str(tmp_path / "img"))
    assert_one_line_error(result, "--pip numpy<1 conflicts with the client's numpy")
    assert not (tmp_path / "img").exists()
