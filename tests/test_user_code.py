"""A script's own modules reach the workers (issue 11, point 15): its folder, .gitignore
followed, and ``--ship`` paths, through a worker plugin that workers joining later get too.

The cluster's worker processes run with a ``sitecustomize`` that puts them in another
folder and takes the script's folder (and this checkout) off their ``sys.path``, as on a
cloud worker; shipping is forced on (``SCALECLOUD_SHIP_CODE=1``), as for every provider
but local.
"""

from __future__ import annotations

import json
import os
import textwrap
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads import shipping
from scalecloud.workloads.gitignore import Ignorer, parse

ELSEWHERE = textwrap.dedent(
    """
    import multiprocessing, os, sys
    if multiprocessing.parent_process():  # a worker process, not the client or the script
        os.chdir({away!r})
        sys.path[:] = [p for p in sys.path if p not in ("", ".") and not p.startswith({hide!r})]
    """
)

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from distributed import Client
    import helpers, extra_pkg

    client = Client()
    futures = client.map(helpers.double, range(4)) + [client.submit(extra_pkg.triple, 5)]
    print("RESULT", client.gather(futures), flush=True)
    if sys.argv[1:] == ["wait-for-3"]:  # a worker that joins mid-run gets the code too
        before = set(client.scheduler_info()["workers"])
        while len(client.scheduler_info()["workers"]) < 3:
            time.sleep(0.2)
        new = sorted(set(client.scheduler_info()["workers"]) - before)
        print("NEW", client.submit(helpers.double, 21, workers=new, pure=False).result())
    """
)
PROBE = textwrap.dedent(
    """
    import importlib.util
    from distributed import Client
    found = Client().run(lambda: [importlib.util.find_spec(m) is None for m in ("helpers", "extra_pkg")])
    print("HIDDEN", sorted(set(str(v) for v in found.values())))
    """
)


def make_project(root: Path) -> Path:
    """A script beside its module, a .gitignore'd file, and a package elsewhere."""
    project = root / "project"
    project.mkdir()
    (project / "helpers.py").write_text(
        "from pathlib import Path\n"
        "def double(x):\n"
        "    import os\n"
        "    assert not os.path.exists(Path(__file__).parent / 'secret.log')\n"
        "    return 2 * x\n"
    )
    (project / "secret.log").write_text("not for the workers\n")
    (project / ".gitignore").write_text("*.log\n")
    (project / "job.py").write_text(SCRIPT)
    package = root / "libs" / "extra_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("def triple(x):\n    return 3 * x\n")
    return project


@pytest.mark.slow
def test_a_scripts_modules_reach_workers_that_do_not_share_its_folder(cli, tmp_path):
    project = make_project(tmp_path)
    away = tmp_path / "away"
    away.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        ELSEWHERE.format(away=str(away), hide=str(tmp_path / "project"))
    )
    cli.env.update(PYTHONPATH=str(site), SCALECLOUD_SHIP_CODE="1")
    cli("up", "--name", "far", "--workers", "2", "--idle-timeout", "0", check=True)
    # The workers cannot see the script's folder or the package: importing them fails.
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "probe.py").write_text(PROBE)
    probe = cli("submit", str(tmp_path / "probe" / "probe.py"), "--name", "far", check=True)
    assert "HIDDEN ['[True, True]']" in probe.out
    ship = str(tmp_path / "libs" / "extra_pkg")
    proc = cli.popen(
        "submit", str(project / "job.py"), "--name", "far", "--ship", ship, "--json",
        "--", "wait-for-3",
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # the tasks ran; the script now waits for a third worker
        lines.append(line)
        if line.startswith("RESULT"):
            break
    cli("scale", "3", "--name", "far", check=True)
    out, err = proc.communicate(timeout=120)
    out = "".join(lines) + out
    assert proc.returncode == 0, err
    assert "RESULT [0, 2, 4, 6, 15]" in out and "NEW 42" in out
    record = json.loads(out[out.index("{") :])
    assert record["params"]["ship"] == [ship]
    # A rerun ships the same paths (the package is not beside the script).
    again = cli("runs", "rerun", record["run_id"], "--name", "far", check=True)
    assert "RESULT [0, 2, 4, 6, 15]" in again.out
    # Without shipping forced on (a local cluster as it is): the folders themselves go on
    # the workers' sys.path, nothing copied, and an edited module is imported afresh.
    del cli.env["SCALECLOUD_SHIP_CODE"]
    (project / "helpers.py").write_text("def double(x):\n    return 20 * x\n")
    local = cli("submit", str(project / "job.py"), "--name", "far", "--ship", ship, check=True)
    assert "RESULT [0, 20, 40, 60, 15]" in local.out and "on this machine" in local.out + local.err


def test_gitignore_rules_and_what_is_always_left_out(tmp_path):
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / ".gitignore").write_text("*.bin\n")
    top = root / "work"
    files = [
        "job.py", "keep.log", "run.log", "build/out.py", "sub/build", "rooted.txt",
        "sub/rooted.txt", "data/a/b.csv", "data/top.csv", "x/secret/s.py", "weights.bin",
        "sub/.gitignore", "sub/local.tmp", "sub/other.py", "__pycache__/m.pyc",
        "venv/pyvenv.cfg", "venv/lib/site.py", "mod.pyc",
    ]  # fmt: skip
    for name in files:
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(name)
    (top / ".gitignore").write_text(
        "# comment\n*.log\n!keep.log\nbuild/\n/rooted.txt\ndata/**/*.csv\n**/secret\n"
    )
    (top / "sub" / ".gitignore").write_text("*.tmp\n")
    shipped = sorted(p.relative_to(top).as_posix() for p in Ignorer(top).files())
    assert shipped == [
        ".gitignore", "job.py", "keep.log", "sub/.gitignore", "sub/build",
        "sub/other.py", "sub/rooted.txt",
    ]  # fmt: skip
    assert parse("a/**/b\n")[0].regex.fullmatch("a/x/y/b")
    assert parse("a/**/b\n")[0].regex.fullmatch("a/b")
    assert not parse("a?c\n")[0].regex.fullmatch("a/c")
    assert parse("[!x]y\n")[0].regex.fullmatch("deep/zy")


def test_the_zip_holds_the_folder_and_the_shipped_package(tmp_path):
    project = make_project(tmp_path)
    name, data = shipping.user_code(project / "job.py", (tmp_path / "libs" / "extra_pkg",))
    with zipfile.ZipFile(BytesIO(data)) as archive:
        names = sorted(archive.namelist())
    assert names == [".gitignore", "extra_pkg/__init__.py", "helpers.py", "job.py"]
    assert name.startswith("scalecloud-user-")
    assert shipping.user_code(project / "job.py", (tmp_path / "libs" / "extra_pkg",))[1] == data


def test_over_the_limit_is_refused_before_anything_exists(cli, tmp_path):
    project = make_project(tmp_path)
    (project / "big.npy").write_bytes(os.urandom(shipping.USER_CODE_LIMIT + 2**20))
    result = cli("run", str(project / "job.py"), "--provider", "gcp", "--name", "big")
    assert result.code != 0
    assert "over 50 MB zipped; largest files: big.npy (51.0 MB)" in result.err
    assert "Hint:" in result.err and ".gitignore" in result.err
    assert cli.records() == [] and not (cli.home / "runs").exists()
    (project / ".gitignore").write_text("*.log\n*.npy\n")  # once ignored, it fits
    assert shipping.user_code(project / "job.py")[0].startswith("scalecloud-user-")


def test_ship_applies_to_scripts_and_must_exist(tmp_path):
    from scalecloud import prepare

    project = make_project(tmp_path)
    with pytest.raises(ScalecloudError, match="no such file or folder"):
        prepare(str(project / "job.py"), ship=[str(tmp_path / "missing")])
    with pytest.raises(ScalecloudError, match="applies to scripts"):
        prepare("kmeans", ship=[str(project / "helpers.py")])
    run = prepare(str(project / "job.py"), ship=[tmp_path / "libs" / "extra_pkg"])
    assert run.params["ship"] == [str(tmp_path / "libs" / "extra_pkg")]
