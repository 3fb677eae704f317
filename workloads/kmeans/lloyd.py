"""A fused Lloyd E-step for data with few features: nearest centers, sums and counts in one
sweep, at close to the speed of reading the rows.

Distances are computed in float32 across rows (16 rows per AVX-512 instruction) from a
feature-major float32 copy of the rows, and *certified*: a row keeps its float32 nearest
center only when the gap to the second nearest exceeds twice a rigorous bound on the
float32 error; every other row is recomputed in float64. So the labels are those of the
float64 scores ``‖c‖² − 2 x·c`` that scikit-learn's Lloyd kernel compares, and the sums
are float64 sums of the original rows. On later passes per-row distance bounds
(Hamerly's) skip the rows that provably keep their center, and only rows whose label
changes move between the sums.

The kernel is generated for the number of features (the feature loop is unrolled so that
the row loop vectorises), compiled with numba, and cached on disk. It is used when numba
imports and the rows have at most :data:`MAX_FEATURES` features; otherwise
``fastkmeans`` uses scikit-learn's kernel.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_FEATURES = 64
# Up to this many center values (k x d) the center loop is unrolled as well.
MAX_UNROLLED = 256
TILE = 256
VERSION = 4
# Float32 unit roundoff; the error bound's constant is 2 (d + 4) u (see ``_bound``).
_U32 = 2.0**-24

_kernels: dict[tuple[int, int], Any] = {}
_lock = threading.Lock()


def available(n_features: int) -> bool:
    """Whether the fused kernel applies to rows of ``n_features`` columns."""
    if (
        not 1 <= n_features <= MAX_FEATURES
        or os.environ.get("SCALECLOUD_LLOYD_KERNEL") == "sklearn"
    ):
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def prepare(rows: Any) -> tuple[Any, Any]:
    """What the kernel reads besides the rows: their float32 feature-major (d × n) copy,
    and an upper bound of each row's norm (computed once; it bounds the float32 error)."""
    import numpy as np

    xt = np.ascontiguousarray(rows.T, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows)) * (1 + 1e-6)
    return xt, norms.astype(np.float32)


def assign(
    prepared: tuple[Any, Any],
    x: Any,
    centers: Any,
    labels: Any,
    sums: Any,
    counts: Any,
    bounds: tuple[Any, Any],
    shift: Any = None,
) -> tuple[int, int, int]:
    """Nearest centers of the rows ``x`` into ``labels``, in place; returns (labels
    changed, rows recomputed in float64, rows skipped). ``prepared`` is :func:`prepare`
    of the rows; ``bounds`` is two float32 arrays, one value per row, that the kernel keeps:
    an upper bound on each row's distance to its center, a lower bound on the others'.

    ``sums`` and ``counts`` are float64 per-cluster sums and counts of the rows. With
    ``shift`` None (a first pass), every row is assigned and added to them. Otherwise
    ``shift`` holds how far each center moved since the last pass over these rows, and
    ``labels``, ``sums``, ``counts`` and ``bounds`` must be what that pass left: a row whose
    bounds show it keeps its center is skipped, and only rows whose label changes move
    from their old cluster's sums to their new one's.
    """
    import numpy as np

    k, d = centers.shape
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    csq64 = np.einsum("ij,ij->i", centers, centers)
    w = (-2.0 * centers).astype(np.float32)
    csq = csq64.astype(np.float32)
    alpha, beta = _bound(centers, csq64)
    incremental = shift is not None
    moved = np.zeros(k) if shift is None else np.asarray(shift, dtype=np.float64) * (1 + 1e-9)
    xt, norms = prepared
    upper, lower = bounds
    changed, rechecked, skipped = kernel(k, d)(
        xt, norms, x, w, csq, centers, csq64, alpha, beta, labels, sums, counts, incremental,
        upper, lower, moved, float(moved.max()),
    )  # fmt: skip
    return int(changed), int(rechecked), int(skipped)


def new_bounds(n: int) -> tuple[Any, Any]:
    """Per-row distance bounds for :func:`assign`, before a first pass."""
    import numpy as np

    return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)


def _bound(centers: Any, csq64: Any) -> tuple[float, float]:
    """``alpha + beta ‖x‖`` bounds |float32 score − exact score| for every center.

    Rounding x, −2c and ‖c‖² to float32 costs a relative u each, every product 2u more,
    and a float32 sum of d + 1 terms at most d u (1 + O(u)) of Σ|terms|, whatever the
    order; Σ|terms| ≤ ‖c‖² + 2 ‖x‖ ‖c‖ (Cauchy–Schwarz). So (d + 4) u (‖c‖² + 2 ‖x‖ ‖c‖)
    bounds the error; twice that is the margin used (‖x‖ comes from :func:`prepare`,
    rounded up).
    """
    import numpy as np

    d = centers.shape[1]
    scale = 2.0 * (d + 4) * _U32
    return float(scale * np.abs(csq64).max()), float(2.0 * scale * np.sqrt(csq64.max()))


def kernel(n_clusters: int, n_features: int) -> Any:
    """The compiled kernel for ``n_clusters`` × ``n_features`` centers (generated, compiled
    and cached once per process; numba's disk cache lets later processes load it)."""
    unrolled = n_clusters * n_features <= MAX_UNROLLED
    key = (n_clusters if unrolled else 0, n_features)
    with _lock:
        found = _kernels.get(key)
        if found is None:
            found = _kernels[key] = _load(*key)
        return found


def warm_up(n_clusters: int, n_features: int) -> None:
    """Compile (or load) the kernel for these shapes now, on a few rows, so that the first
    pass of a fit does not pay for it."""
    import numpy as np

    rows = np.zeros((2, n_features))
    centers = np.arange(n_clusters * n_features, dtype=np.float64).reshape(n_clusters, -1)
    labels = np.full(2, -1, dtype=np.int32)
    sums, counts = np.zeros(centers.shape), np.zeros(n_clusters)
    assign(prepare(rows), rows, centers, labels, sums, counts, new_bounds(2))


def _load(k: int, d: int) -> Any:
    return load_source(f"scalecloud_lloyd_k{k}_d{d}", _source(k, d), "lloyd")


def load_source(prefix: str, source: str, attr: str) -> Any:
    """``attr`` of the module ``source``, written once to the kernel cache and imported from
    there: numba caches compiled code only for functions of files it can find again (not in
    the zip that code shipping sends to the workers)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    name = f"{prefix}_{digest}"
    path = _cache_dir() / f"{name}.py"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # numba's disk cache finds the module again by name when it loads a compiled kernel.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)


def _cache_dir() -> Path:
    """Where generated kernels (and numba's cache of them) live: the user cache, or a
    temporary folder when that is not writable (a read-only image)."""
    candidates = []
    if os.environ.get("SCALECLOUD_KERNEL_CACHE"):
        candidates.append(Path(os.environ["SCALECLOUD_KERNEL_CACHE"]))
    try:
        from platformdirs import user_cache_path

        candidates.append(user_cache_path("scalecloud") / "kernels")
    except ImportError:  # a worker image has the workloads' packages, not the client's
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        candidates.append(Path(cache) / "scalecloud" / "kernels")
    user = getattr(os, "getuid", lambda: "user")()  # no getuid on Windows
    candidates.append(Path(tempfile.gettempdir()) / f"scalecloud-kernels-{user}")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".probe-{os.getpid()}"
            probe.touch()
            probe.unlink()
            return folder
        except OSError:
            continue
    raise OSError("no writable folder for scalecloud's compiled kernels")


def _dot(weight: Callable[[int], str], d: int, indent: str) -> str:
    """Lines computing s = c + Σ_f w_f x_f in four partial sums (a shorter dependency
    chain than one running sum); ``weight(f)`` names w_f."""
    lines = []
    for g in range(min(4, d)):
        lines.append(f"{indent}p{g} = " + " + ".join(f"{weight(f)} * x{f}" for f in range(g, d, 4)))
    return (
        "\n".join(lines)
        + f"\n{indent}s = cj + ("
        + " + ".join(f"p{g}" for g in range(min(4, d)))
        + ")"
    )


def _source(k: int, d: int) -> str:
    """The kernel's source: the feature loop unrolled and the row loop innermost, so that
    it vectorises across rows. With ``k`` > 0 the center loop is unrolled too (the rows'
    features stay in registers while every center is tried); with ``k`` = 0 it is a loop
    over centers, each sweeping the tile."""
    views = "\n".join(f"        v{f} = xt[{f}, r0:r0 + m]" for f in range(d))
    loads = "\n".join(f"                x{f} = v{f}[r]" for f in range(d))
    if k:
        setup = "\n".join(
            f"    c{j} = csq[{j}]\n" + "\n".join(f"    w{j}_{f} = w[{j}, {f}]" for f in range(d))
            for j in range(k)
        )
        centers = []
        for j in range(k):
            centers.append(f"            cj = c{j}")
            centers.append(_dot(functools.partial("w{}_{}".format, j), d, "            "))
            centers.append(
                "            hi = b if s < b else s\n"
                "            sc = hi if hi < sc else sc\n"
                f"            a = {j} if s < b else a\n"
                "            b = s if s < b else b"
            )
        sweep = (
            f"""        for r in range(m):
{loads.replace("                ", "            ")}
            b = np.float32(np.inf)
            sc = np.float32(np.inf)
            a = 0
"""
            + "\n".join(centers)
            + """
            best[r] = b
            second[r] = sc
            arg[r] = a"""
        )
    else:
        setup = "    pass"
        sweep = (
            """        for r in range(m):
                best[r] = np.inf
                second[r] = np.inf
                arg[r] = 0
        for j in range(k_all):
            cj = csq[j]
"""
            + "\n".join(f"            w{f} = w[j, {f}]" for f in range(d))
            + f"""
            for r in range(m):
{loads}
{_dot(lambda f: f"w{f}", d, "                ")}
                b = best[r]
                hi = b if s < b else s
                second[r] = hi if hi < second[r] else second[r]
                arg[r] = j if s < b else arg[r]
                best[r] = s if s < b else b"""
        )
    return f'''"""Generated by scalecloud.workloads.kmeans.lloyd (version {VERSION}): {k or "any number of"}
centers, {d} features."""
import numpy as np
from numba import njit


@njit(nogil=True, cache=True, fastmath={{"contract"}}, error_model="numpy", boundscheck=False)
def lloyd(
    xt, norms, x, w, csq, c64, csq64, alpha, beta, labels, sums, counts, incremental,
    upper, lower, shift, shift_max,
):
    n = x.shape[0]
    # A trip count known only at run time lets LLVM vectorise the sums (with a check that
    # the rows and the sums do not overlap); a literal one leaves them scalar.
    dd = x.shape[1]
    k_all = csq.shape[0]
    best = np.empty({TILE}, np.float32)
    second = np.empty({TILE}, np.float32)
    arg = np.empty({TILE}, np.int32)
    sure = np.empty({TILE}, np.uint8)
    todo = np.empty({TILE}, np.uint8)
    rechecked = 0
    changed = 0
    skipped = 0
{setup}
    for r0 in range(0, n, {TILE}):
        m = min({TILE}, n - r0)
        nv = norms[r0 : r0 + m]
        uv = upper[r0 : r0 + m]
        lv = lower[r0 : r0 + m]
        if incremental:
            # Hamerly's test: the centers moved by at most ``shift``, so a row whose bound
            # on its own center's distance stays below the bound on every other one keeps
            # its label (and its share of the sums) without computing any distance.
            need = 0
            for r in range(m):
                u = (uv[r] + shift[labels[r0 + r]]) * 1.000001
                lo = (lv[r] - shift_max) * 0.999999
                uv[r] = u
                lv[r] = lo
                move = 0 if u < lo else 1
                todo[r] = move
                need += move
            skipped += m - need
            if need == 0:
                continue
        else:
            for r in range(m):
                todo[r] = 1
{views}
{sweep}
        for r in range(m):
            gap = second[r] - best[r]
            error = alpha + beta * nv[r]
            # NaN or infinite scores fail this test, so such rows are recomputed.
            sure[r] = 1 if gap > 2.0 * error else 0
            # Distance bounds from the scores (d² = ‖x‖² + score, each score within
            # error; nv is ‖x‖ rounded up): the nearest center's at most uv, every other
            # one's at least lv; none for a row whose nearest center is not certain.
            # The float32 square roots are within 1e-7; the factors leave 1e-6.
            nx2 = np.float64(nv[r]) * np.float64(nv[r])
            near2 = np.float32(max(nx2 + best[r] + error, 0.0))
            far2 = np.float32(max(nx2 * 0.999996 + second[r] - error, 0.0))
            uv[r] = np.sqrt(near2) * np.float32(1.000001)
            lv[r] = np.sqrt(far2) * np.float32(0.999999) if gap > 2.0 * error else 0.0
        for r in range(m):
            if todo[r] == 0:
                continue
            i = r0 + r
            a = arg[r]
            if sure[r] == 0:
                rechecked += 1
                top = np.inf
                for jj in range(k_all):
                    dot = 0.0
                    for f in range({d}):
                        dot += x[i, f] * c64[jj, f]
                    score = csq64[jj] - 2.0 * dot
                    if score < top:
                        top = score
                        a = jj
            row = x[i]
            # Without ``incremental`` the old label is whatever the buffer held: writing
            # the new one when it differs still leaves every row labelled.
            old = labels[i]
            if not incremental:
                counts[a] += 1
                total = sums[a]
                for f in range(dd):
                    total[f] += row[f]
            elif old != a:
                counts[a] += 1
                counts[old] -= 1
                into = sums[a]
                out = sums[old]
                for f in range(dd):
                    into[f] += row[f]
                    out[f] -= row[f]
            if old != a:
                changed += 1
                labels[i] = a
    return n if not incremental else changed, rechecked, skipped
'''
