"""Unit tests for workload parameters (core.py), the registry and runner.prepare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads import kmeans, sgd
from scalecloud.workloads.core import Param
from scalecloud.workloads.registry import WORKLOADS, get_workload
from scalecloud.workloads.runner import PreparedRun, WorkloadRequest, prepare
from scalecloud.workloads.search import gridsearch, nnsearch

KMEANS = kmeans.WORKLOAD
GRID = gridsearch.WORKLOAD
NN = nnsearch.WORKLOAD


def error_of(workload, *settings: str) -> ScalecloudError:
    with pytest.raises(ScalecloudError) as info:
        workload.resolve(list(settings))
    error = info.value
    assert error.message, "every error needs a message"
    assert isinstance(error.hint, str) and error.hint.strip(), "every error needs a hint"
    return error


# --- defaults and parsing -------------------------------------------------------------


def test_kmeans_defaults() -> None:
    params = KMEANS.resolve([])
    assert params == {
        "n_blocks": 100,
        "rows_per_block": 20_000,
        "n_features": 20,
        "n_centers": 12,
        "n_clusters": 12,
        "init_max_iter": 3,
        "oversampling_factor": 10.0,
        "max_iter": 300,
        "tol": 1e-4,
        "implementation": "scalecloud",
        "storage": "auto",
        "data": None,
        "columns": None,
    }


def test_gridsearch_defaults() -> None:
    params = GRID.resolve(())
    assert params["ngram_ranges"] == ((1, 1), (1, 2))
    assert params["norms"] == ("l1", "l2")
    assert params["alphas"] == (1e-3, 1e-4, 1e-5)
    assert params["n_docs"] == 2000
    assert params["cv"] == 5
    assert params["data"] is None
    assert params["text_column"] == "text"
    assert params["implementation"] == "scalecloud"
    assert set(params) == {p.name for p in GRID.params}


def test_nnsearch_defaults_are_the_lectures() -> None:
    params = NN.resolve([])
    assert params["widths"] == (100, 200, 300)
    assert (params["epochs"], params["batch_size"], params["cv"]) == (30, 32, 5)
    assert params["backend"] == "sklearn" and params["scale"] is True
    assert params["data"] is None and params["feature_columns"] is None
    assert set(params) == {p.name for p in NN.params}


def test_ints_setting() -> None:
    assert NN.resolve(["widths=5, 10,20"])["widths"] == (5, 10, 20)
    assert "comma-separated integers" in error_of(NN, "widths=5,1.5").message
    assert "widths must be >= 1" in error_of(NN, "widths=5,0").message
    assert "needs at least one value" in error_of(NN, "widths=").message


@pytest.mark.parametrize("text", ["0", "1", "1.5"])
def test_nnsearch_test_size_is_checked_before_running(text: str) -> None:
    with pytest.raises(ScalecloudError) as info:
        prepare(WorkloadRequest("nnsearch", (f"test_size={text}",)))
    assert "test_size must be between 0 and 1" in info.value.message


def test_resolve_returns_a_fresh_dict() -> None:
    first = KMEANS.resolve(["n_blocks=5"])
    second = KMEANS.resolve([])
    assert first["n_blocks"] == 5
    assert second["n_blocks"] == 100
    assert KMEANS.param("n_blocks").default == 100


def test_int_setting() -> None:
    params = KMEANS.resolve(["n_blocks=5"])
    assert params["n_blocks"] == 5
    assert type(params["n_blocks"]) is int
    # the others keep their defaults
    assert params["rows_per_block"] == 20_000


def test_setting_whitespace_is_stripped() -> None:
    assert KMEANS.resolve([" n_blocks = 7 "])["n_blocks"] == 7


def test_float_setting() -> None:
    params = KMEANS.resolve(["tol=1e-3"])
    assert params["tol"] == pytest.approx(1e-3)
    assert type(params["tol"]) is float
    assert KMEANS.resolve(["tol=0"])["tol"] == 0.0
    assert KMEANS.resolve(["oversampling_factor=2"])["oversampling_factor"] == 2.0


def test_later_setting_wins() -> None:
    assert KMEANS.resolve(["n_blocks=5", "n_blocks=9"])["n_blocks"] == 9


def test_several_settings() -> None:
    params = KMEANS.resolve(["n_blocks=3", "rows_per_block=10", "n_clusters=4"])
    assert (params["n_blocks"], params["rows_per_block"], params["n_clusters"]) == (3, 10, 4)


def test_floats_setting() -> None:
    alphas = GRID.resolve(["alphas=1e-3,1e-4"])["alphas"]
    assert alphas == (1e-3, 1e-4)
    assert isinstance(alphas, tuple)
    assert all(type(a) is float for a in alphas)
    assert GRID.resolve(["alphas= 0.5 , 2 ,"])["alphas"] == (0.5, 2.0)


def test_ngrams_setting() -> None:
    assert GRID.resolve(["ngram_ranges=1-1,1-2"])["ngram_ranges"] == ((1, 1), (1, 2))
    assert GRID.resolve(["ngram_ranges=2-3"])["ngram_ranges"] == ((2, 3),)


def test_strs_setting() -> None:
    assert GRID.resolve(["norms=l1"])["norms"] == ("l1",)
    assert GRID.resolve(["norms=l2,l1"])["norms"] == ("l2", "l1")


def test_path_and_str_settings(tmp_path: Path) -> None:
    target = tmp_path / "data.csv"
    params = GRID.resolve([f"data={target}", "text_column=body"])
    assert params["data"] == str(target)
    assert params["text_column"] == "body"


def test_path_setting_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert GRID.resolve(["data=~/x.csv"])["data"] == str(tmp_path / "x.csv")


def test_value_may_contain_equals_sign() -> None:
    assert GRID.resolve(["text_column=a=b"])["text_column"] == "a=b"


# --- errors ---------------------------------------------------------------------------


def test_unknown_key() -> None:
    error = error_of(KMEANS, "n_block=5")
    assert "'n_block'" in error.message
    assert "kmeans" in error.message
    for param in KMEANS.params:
        assert param.name in error.hint


def test_unknown_key_for_gridsearch_lists_its_keys() -> None:
    error = error_of(GRID, "n_blocks=5")
    assert "'n_blocks'" in error.message
    assert "ngram_ranges" in error.hint and "alphas" in error.hint
    assert "rows_per_block" not in error.hint


@pytest.mark.parametrize("text", ["abc", "1.5", "", "1e3", "five"])
def test_wrong_type_int(text: str) -> None:
    error = error_of(KMEANS, f"n_blocks={text}")
    assert "n_blocks" in error.message
    assert "an integer" in error.message
    assert error.hint == "e.g. --set n_blocks=100"


@pytest.mark.parametrize("text", ["abc", "nan", "inf", "-inf", ""])
def test_wrong_type_float(text: str) -> None:
    error = error_of(KMEANS, f"tol={text}")
    assert "tol" in error.message and "a number" in error.message
    assert error.hint == "e.g. --set tol=0.0001"


@pytest.mark.parametrize(
    ("setting", "name", "minimum"),
    [
        ("n_blocks=-1", "n_blocks", "1"),
        ("n_blocks=0", "n_blocks", "1"),
        ("rows_per_block=0", "rows_per_block", "1"),
        ("tol=-1e-3", "tol", "0"),
    ],
)
def test_below_minimum(setting: str, name: str, minimum: str) -> None:
    error = error_of(KMEANS, setting)
    assert error.message.startswith(f"{name} must be >= {minimum}")
    assert f"--set {name}=" in error.hint


def test_below_minimum_gridsearch() -> None:
    assert error_of(GRID, "n_docs=9").message.startswith("n_docs must be >= 10")
    assert error_of(GRID, "cv=1").message.startswith("cv must be >= 2")
    assert error_of(GRID, "alphas=1e-3,-1").message.startswith("alphas must be >= 0")
    assert error_of(GRID, "ngram_ranges=0-1").message.startswith("ngram_ranges must be >= 1")


def test_bad_choice() -> None:
    error = error_of(GRID, "norms=l3")
    assert "'l3'" in error.message and "norms" in error.message
    assert "l1" in error.hint and "l2" in error.hint
    assert "'l3'" in error_of(GRID, "norms=l1,l3").message


def test_reversed_ngram() -> None:
    error = error_of(GRID, "ngram_ranges=2-1")
    assert "ngram_ranges" in error.message and "lower end" in error.message
    assert "1-1,1-2" in error.hint


@pytest.mark.parametrize("text", ["1", "1-2-3", "a-b", "1-1,x"])
def test_malformed_ngram(text: str) -> None:
    error = error_of(GRID, f"ngram_ranges={text}")
    assert "n-gram ranges" in error.message


@pytest.mark.parametrize("setting", ["n_blocks", "=5", " =5", ""])
def test_missing_equals_or_key(setting: str) -> None:
    error = error_of(KMEANS, setting)
    assert error.message == f"invalid setting {setting!r}"
    assert "key=value" in error.hint


@pytest.mark.parametrize("setting", ["alphas=", "alphas=,", "norms=", "ngram_ranges="])
def test_empty_list(setting: str) -> None:
    key = setting.split("=")[0]
    error = error_of(GRID, setting)
    assert error.message == f"{key} needs at least one value"


def test_bad_floats_item() -> None:
    error = error_of(GRID, "alphas=1e-3,x")
    assert "comma-separated numbers" in error.message


def test_empty_path_rejected() -> None:
    error = error_of(GRID, "data=")
    assert "a file path" in error.message


@pytest.mark.parametrize("text", ["nan", "inf", "1e-3,nan"])
def test_floats_reject_non_finite(text: str) -> None:
    error_of(GRID, f"alphas={text}")


# --- Param directly -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
    ],
)
def test_bool_param(text: str, expected: bool) -> None:
    assert Param("flag", "bool", False, "a flag").parse(text) is expected


def test_bool_param_rejects() -> None:
    with pytest.raises(ScalecloudError) as info:
        Param("flag", "bool", False, "a flag").parse("maybe")
    assert "true or false" in info.value.message
    assert info.value.hint == "e.g. --set flag=false"


def test_param_format() -> None:
    assert Param.format(None) == "-"
    assert Param.format(True) == "true"
    assert Param.format(1e-4) == "0.0001"
    assert Param.format((1e-3, 1e-4)) == "0.001,0.0001"
    assert Param.format(((1, 1), (1, 2))) == "1-1,1-2"
    assert Param.format(("l1", "l2")) == "l1,l2"
    assert Param.format(7) == "7"


@pytest.mark.parametrize("workload", [KMEANS, GRID, NN, sgd.WORKLOAD], ids=lambda w: w.name)
def test_defaults_format_and_parse_back(workload) -> None:
    for param in workload.params:
        if param.default is None:
            continue
        assert param.parse(Param.format(param.default)) == param.default, param.name


# --- registry -------------------------------------------------------------------------


def test_get_workload() -> None:
    assert get_workload("kmeans") is KMEANS
    assert get_workload("gridsearch") is GRID
    assert get_workload("nnsearch") is NN
    assert sorted(WORKLOADS) == ["gridsearch", "kmeans", "nnsearch", "predict", "sgd"]


def test_get_workload_unknown() -> None:
    with pytest.raises(ScalecloudError) as info:
        get_workload("nope")
    assert "'nope'" in info.value.message
    assert "kmeans" in info.value.hint and "gridsearch" in info.value.hint


def test_workload_targets_load() -> None:
    assert KMEANS.load() is kmeans.run
    assert GRID.load() is gridsearch.run
    assert NN.load() is nnsearch.run


# --- runner.prepare -------------------------------------------------------------------


def prepare_error(request: WorkloadRequest) -> ScalecloudError:
    with pytest.raises(ScalecloudError) as info:
        prepare(request)
    assert info.value.message
    assert isinstance(info.value.hint, str) and info.value.hint.strip()
    return info.value


def test_prepare_builtin() -> None:
    run = prepare(WorkloadRequest("kmeans", settings=("n_blocks=5",), seed=7))
    assert isinstance(run, PreparedRun)
    assert run.name == "kmeans"
    assert run.workload is KMEANS
    assert run.script is None
    assert run.seed == 7
    assert run.params["n_blocks"] == 5
    assert run.params["tol"] == 1e-4


def test_prepare_builtin_bad_setting() -> None:
    error = prepare_error(WorkloadRequest("gridsearch", settings=("norms=l3",)))
    assert "'l3'" in error.message


def test_prepare_unknown_workload() -> None:
    error = prepare_error(WorkloadRequest("nope"))
    assert "kmeans" in error.hint


def test_prepare_missing_script(tmp_path: Path) -> None:
    missing = tmp_path / "missing.py"
    error = prepare_error(WorkloadRequest(str(missing)))
    assert str(missing) in error.message and "does not exist" in error.message
    error = prepare_error(WorkloadRequest("no_such_script.py"))
    assert "no_such_script.py" in error.message


def test_prepare_script(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n")
    run = prepare(WorkloadRequest(str(script), seed=3, args=("--alpha", "1")))
    assert run.script == script.resolve()
    assert run.name == "job.py"
    assert run.workload is None
    assert run.args == ("--alpha", "1")
    assert run.params == {"script": str(script.resolve())}
    assert run.seed == 3


def test_prepare_script_with_settings(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n")
    error = prepare_error(WorkloadRequest(str(script), settings=("n_blocks=5",)))
    assert "--set" in error.message
    assert str(script) in error.hint


def test_prepare_args_for_builtin() -> None:
    error = prepare_error(WorkloadRequest("kmeans", args=("--fast",)))
    assert "--fast" in error.message and "kmeans" in error.message
    assert "--set" in error.hint


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31, 2**32 - 1])
def test_prepare_keeps_seed(seed: int) -> None:
    assert prepare(WorkloadRequest("kmeans", seed=seed)).seed == seed


def test_prepare_random_seed() -> None:
    seeds = {prepare(WorkloadRequest("kmeans")).seed for _ in range(20)}
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)
    assert len(seeds) > 1, "20 random seeds should not all be equal"


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_prepare_seed_out_of_range(seed: int) -> None:
    error = prepare_error(WorkloadRequest("kmeans", seed=seed))
    assert "--seed" in error.message and str(seed) in error.message


# --- data generation ------------------------------------------------------------------


def test_block_seed_zero_is_lecture() -> None:
    assert [kmeans.block_seed(0, i) for i in range(500)] == list(range(500))


def test_block_seed_other_seeds() -> None:
    assert kmeans.block_seed(1, 0) == 1_000_003
    assert kmeans.block_seed(2, 5) == 2_000_011
    assert kmeans.block_seed(2**31, 0) < 2**32
    seeds = {kmeans.block_seed(s, i) for s in range(5) for i in range(100)}
    assert len(seeds) == 500


def test_make_block_deterministic() -> None:
    centers = kmeans.blob_centers(3, 4, seed=0)
    assert centers.shape == (3, 4)
    np.testing.assert_array_equal(centers, kmeans.blob_centers(3, 4, seed=0))
    assert not np.array_equal(centers, kmeans.blob_centers(3, 4, seed=1))

    block = kmeans.make_block(50, centers, random_state=1)
    assert block.shape == (50, 4)
    assert block.dtype == np.float64
    np.testing.assert_array_equal(block, kmeans.make_block(50, centers, random_state=1))
    assert not np.array_equal(block, kmeans.make_block(50, centers, random_state=2))


def test_synthetic_corpus_deterministic() -> None:
    docs, labels = gridsearch.synthetic_corpus(30, 3, seed=5)
    assert len(docs) == len(labels) == 30
    assert all(isinstance(d, str) and d for d in docs)
    assert set(labels) <= {0, 1, 2}
    assert len(set(labels)) > 1
    assert (docs, labels) == gridsearch.synthetic_corpus(30, 3, seed=5)
    other_docs, _ = gridsearch.synthetic_corpus(30, 3, seed=6)
    assert other_docs != docs
