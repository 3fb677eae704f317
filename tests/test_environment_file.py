"""environment.yml and pyproject.toml list the same packages with the same bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# pip name → conda-forge name, where they differ. Extras (dask[array,dataframe]) have no
# conda spelling: conda-forge's `dask` package already brings arrays and dataframes.
CONDA_NAMES: dict[str, str] = {}
CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<spec>.*)$")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def pip_dependencies() -> dict[str, SpecifierSet]:
    deps = {}
    for line in pyproject()["project"]["dependencies"]:
        req = Requirement(line)
        deps[CONDA_NAMES.get(req.name, req.name)] = req.specifier
    return deps


def conda_dependencies() -> tuple[dict[str, SpecifierSet], list]:
    deps, pip_sections = {}, []
    for entry in environment()["dependencies"]:
        if isinstance(entry, dict):
            pip_sections.append(entry.get("pip"))
            continue
        match = CONDA_SPEC.match(entry)
        assert match, f"cannot parse {entry!r} in environment.yml"
        spec = match["spec"].strip()
        if spec.startswith("="):  # conda's python=3.11 means 3.11.*
            spec = f"=={spec.lstrip('=')}.*"
        deps[match["name"]] = SpecifierSet(spec)
    return deps, pip_sections


def test_every_dependency_is_in_both_with_the_same_bounds() -> None:
    conda, _ = conda_dependencies()
    conda = {name: spec for name, spec in conda.items() if name not in ("python", "pip")}
    pip = pip_dependencies()
    assert sorted(conda) == sorted(pip), "environment.yml and pyproject.toml list other packages"
    for name, spec in pip.items():
        assert conda[name] == spec, f"{name}: environment.yml {conda[name]}, pyproject {spec}"


def test_the_environment_installs_scalecloud_itself_and_a_supported_python() -> None:
    conda, pip_sections = conda_dependencies()
    assert "pip" in conda
    assert pip_sections == [["-e ."]], "environment.yml must end with pip: [-e .]"
    python = conda["python"]
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    oldest = Version(str(python).split("==")[1].rstrip(".*"))
    assert oldest in requires, f"environment.yml's python {python} vs requires-python {requires}"
    assert environment()["channels"] == ["conda-forge"]


def test_the_check_finds_drift(monkeypatch) -> None:
    text = (ROOT / "environment.yml").read_text().replace("scikit-learn>=1.4", "scikit-learn>=1.2")
    monkeypatch.setattr("test_environment_file.environment", lambda: yaml.safe_load(text))
    conda, _ = conda_dependencies()
    assert conda["scikit-learn"] != pip_dependencies()["scikit-learn"]
