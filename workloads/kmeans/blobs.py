"""The KMeans workload's blocks of blob rows, generated in one pass at about the cost of
their random draws: exactly the rows of scikit-learn's ``make_blobs``.

``make_blobs(n_samples=rows, centers=centers, random_state=seed)`` (unit ``cluster_std``,
``shuffle=True``), as the installed scikit-learn writes it, does this with
``generator = RandomState(seed)``:

- it gives the first ``rows % k`` centers ``rows // k + 1`` rows and the others
  ``rows // k``, and fills its rows center by center with ``generator.normal(loc=center,
  scale=1.0, size=(n, d))``; the legacy normal is ``loc + scale * gauss`` with gauss drawn
  in row-major order, and ``scale * gauss`` is ``gauss`` exactly, so the rows before
  shuffling are ``generator.standard_normal((rows, d))`` plus each row's center;
- it shuffles them with ``sklearn.utils.shuffle`` (``resample`` without replacement):
  ``indices = arange(rows)``, ``generator.shuffle(indices)``, the rows taken in that order;
  that is ``generator.permutation(rows)``.

So a block is its draws and its permutation, both from NumPy's generator, and one pass
(:func:`fill`, a numba kernel) that writes each row where it belongs (its draws plus its
center): into the float64 rows, the fused Lloyd kernel's float32 feature-major copy and
row norms (``lloyd.prepare``'s), and the block's statistics (mean, m2, sum of squares).
The same compiled module writes the user's data from the columns read
(``read_rows``, used by ``readrows``).
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Sequence
from typing import Any

VERSION = 4
# Rows per tile: written row by row, then read back feature by feature from cache.
TILE = 128

# (xt, norms, offset, start, stop): rows start..stop of the block go to columns
# offset + start..offset + stop of a float32 feature-major copy ``xt`` and of ``norms``.
Piece = tuple[Any, Any, int, int, int]

# Normals drawn per call: 64 KiB, below glibc's mmap threshold (see ``_draw_into``).
PIECE = 8192

_kernel: Any = None
_lock = threading.Lock()
_local = threading.local()


def counts(rows: int, n_centers: int) -> list[int]:
    """Rows per center: as make_blobs gives them (the first ``rows % k`` have one more)."""
    return [rows // n_centers + (1 if i < rows % n_centers else 0) for i in range(n_centers)]


@functools.lru_cache(maxsize=8)
def _layout(rows: int, n_centers: int) -> Any:
    """Each row's center before shuffling (a read-only array: it is shared)."""
    import numpy as np

    labels = np.repeat(np.arange(n_centers, dtype=np.intp), counts(rows, n_centers))
    labels.flags.writeable = False
    return labels


def draw(rows: int, n_features: int, random_state: int) -> tuple[Any, Any]:
    """The block's random numbers: its standard normal draws and its row permutation."""
    import numpy as np

    generator = np.random.RandomState(random_state)
    return generator.standard_normal((rows, n_features)), generator.permutation(rows)


def reference(rows: int, centers: Any, random_state: int) -> Any:
    """The block in plain NumPy (two passes more than :func:`fill`): the definition."""
    import numpy as np

    centers = np.asarray(centers, dtype=np.float64)
    draws, order = draw(rows, centers.shape[1], random_state)
    return (draws + centers[_layout(rows, len(centers))])[order]


def _draw_into(rows: int, n_features: int, random_state: int) -> tuple[Any, Any]:
    """:func:`draw`'s numbers in this thread's buffers, valid until its next call.

    The same stream: the legacy generator draws normals in pairs and keeps the spare in
    its state, so draws taken in pieces are the draws taken at once; and ``permutation``
    is ``shuffle`` of ``arange``. Pieces of :data:`PIECE` numbers are small enough for the
    allocator to reuse their memory: a block's 3.2 MB drawn at once is mapped afresh, and
    faulted in page by page, in every call on a Dask worker (its ``MALLOC_TRIM_THRESHOLD_``
    fixes glibc's mmap threshold at 128 KiB).
    """
    import numpy as np

    size = rows * n_features
    buffers = getattr(_local, "buffers", None)
    if buffers is None or len(buffers[0]) < size or len(buffers[1]) != rows:
        buffers = _local.buffers = np.empty(size), np.empty(rows, np.intp), np.arange(rows)
    flat, order, identity = buffers
    generator = np.random.RandomState(random_state)
    for start in range(0, size, PIECE):
        flat[start : min(start + PIECE, size)] = generator.standard_normal(min(PIECE, size - start))
    order[:] = identity
    generator.shuffle(order)
    return flat[:size].reshape(rows, n_features), order


def fill(
    rows: int, centers: Any, random_state: int, x: Any, pieces: Sequence[Piece] = ()
) -> tuple[Any, Any, float]:
    """Write the block into ``x`` (``rows`` × d float64, C order) and, where ``pieces``
    say, its float32 feature-major copy and row norms (``pieces`` cover every row or none).
    Returns the block's mean, m2 (per feature, squared deviations from the mean, summed)
    and sum of squares: all from the one pass that writes the rows."""
    import numpy as np

    centers = np.asarray(centers, dtype=np.float64)
    d = centers.shape[1]
    draws, order = _draw_into(rows, d, random_state)
    labels = _layout(rows, len(centers))
    # The sums are taken about the mean of the centers the rows are drawn around: close
    # to the block's mean, so the one-pass m2 loses nothing to cancellation.
    shift = np.asarray(counts(rows, len(centers)), dtype=np.float64) @ centers / rows
    s1, s2 = np.zeros(d), np.zeros(d)
    run = kernel()
    if run is None:  # no numba: NumPy, more passes, the same rows
        x[...] = (draws + centers[labels])[order]
        xx = finish_numpy(x, pieces, shift, s1, s2)
    elif not pieces:
        spare = np.empty((d, 0), np.float32), np.empty(0, np.float32)
        xx = run(draws, order, labels, centers, shift, 0, rows, x, *spare, 0, False, s1, s2)
    else:
        xx = 0.0
        for xt, norms, offset, start, stop in pieces:
            xx += run(
                draws, order, labels, centers, shift, start, stop, x, xt, norms, offset,
                True, s1, s2,
            )  # fmt: skip
    mean = shift + s1 / rows
    return mean, np.maximum(s2 - s1 * s1 / rows, 0.0), float(xx)


def finish_numpy(x: Any, pieces: Sequence[Piece], shift: Any, s1: Any, s2: Any) -> float:
    """What the kernels derive from rows already in ``x``, in NumPy (more passes; for
    machines without numba): the pieces, the statistics about ``shift`` into ``s1`` and
    ``s2``, and the sum of squares."""
    import numpy as np

    for xt, norms, offset, start, stop in pieces:
        xt[:, offset + start : offset + stop] = x[start:stop].T
        norms[offset + start : offset + stop] = np.sqrt(
            np.einsum("ij,ij->i", x[start:stop], x[start:stop])
        ) * (1 + 1e-6)
    dev = x - shift
    s1[:], s2[:] = dev.sum(0), np.einsum("ij,ij->j", dev, dev)
    return float(np.einsum("ij,ij->", x, x))


def allocate(shape: Any, dtype: Any) -> Any:
    """An uninitialised array for blocks to be written into (a partition's), its memory
    mapped by the kernel in one call (``MAP_POPULATE``) rather than page by page as rows
    are first written, and without the huge pages NumPy asks for: on this project's
    machine a partition's 1.2 GB took 0.5 s of faults page by page, and several seconds
    with huge pages (the kernel compacted memory to find them). Elsewhere ``numpy.empty``."""
    import mmap

    import numpy as np

    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or nbytes == 0:
        return np.empty(shape, dtype)
    memory = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    return np.frombuffer(memory, dtype).reshape(shape)


def kernel(name: str = "fill") -> Any:
    """The compiled pass ``name`` (``fill``: blob rows; ``read_rows``: rows and their
    statistics from columns read), compiled once then loaded from
    numba's disk cache; None without numba."""
    global _kernel
    with _lock:
        if _kernel is None:
            try:
                import numba  # noqa: F401
            except ImportError:
                _kernel = False
            else:
                from scalecloud.workloads.kmeans.lloyd import load_source

                fill = load_source(f"scalecloud_blobs_v{VERSION}", _SOURCE, "fill")
                _kernel = sys.modules[fill.py_func.__module__]
        return getattr(_kernel, name) if _kernel else None


_SOURCE = '''"""Generated by scalecloud.workloads.kmeans.blobs: the passes writing a block's rows
(blob rows from their draws; rows from columns read, with their statistics)."""
import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
def fill(draws, order, labels, centers, shift, start, stop, x, xt, norms, offset, copy, s1, s2):
    d = draws.shape[1]
    xx = 0.0
    squares = np.empty({TILE})
    for t0 in range(start, stop, {TILE}):
        m = min({TILE}, stop - t0)
        # The rows of a tile, in place (the gather alone: its loads overlap freely).
        for i in range(t0, t0 + m):
            j = order[i]
            center = centers[labels[j]]
            drawn = draws[j]
            row = x[i]
            for f in range(d):
                row[f] = center[f] + drawn[f]  # make_blobs: loc + 1.0 * gauss, exactly
        # From the tile, in cache: the statistics, across features.
        for i in range(t0, t0 + m):
            row = x[i]
            for f in range(d):
                t = row[f] - shift[f]
                s1[f] += t
                s2[f] += t * t
        # Then, from the tile while it is in cache, the squared norms (summed in feature
        # order, as a row's dot product) and the float32 feature-major copy: across rows.
        squares[:m] = 0.0
        for f in range(d):
            if copy:
                out = xt[f]
                for r in range(m):
                    v = x[t0 + r, f]
                    squares[r] += v * v
                    out[offset + t0 + r] = np.float32(v)
            else:
                for r in range(m):
                    v = x[t0 + r, f]
                    squares[r] += v * v
        for r in range(m):
            xx += squares[r]
            if copy:
                norms[offset + t0 + r] = np.float32(np.sqrt(squares[r]) * (1 + 1e-6))
    return xx


@intrinsic
def _pointer(typingctx, address):
    """The int64 address as a pointer, for carray."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


@intrinsic
def _load(typingctx, address):
    """The float64 at the int64 address, aligned or not."""
    def codegen(context, builder, signature, args):
        pointer = context.get_value_type(types.float64).as_pointer()
        return builder.load(builder.inttoptr(args[0], pointer), align=1)
    return types.float64(types.int64), codegen


@njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"reassoc"})
def _sums(column, center):
    """Of the values: their sum less center, of those squared, and of their squares.
    Reassociated (vectorized): NaN and infinities still propagate."""
    a = 0.0
    b = 0.0
    q = 0.0
    for i in range(column.shape[0]):
        v = column[i]
        t = v - center
        a += t
        b += t * t
        q += v * v
    return a, b, q


@njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
def read_rows(addresses, start, stop, shift, s1, s2, x, xt, norms, offset, copy):
    """Rows start..stop of x from d float64 columns read (at addresses, each of x's rows
    long, kept alive by the caller, aligned or not). Column by column: its statistics
    about shift into s1 and s2 and, with copy, its float32 feature-major copy; then row by
    row (the writes contiguous, the reads d streams) the rows and, with copy, each row's
    norm (its squares summed in feature order, as the blob kernel does). Returns the sum
    of the values' squares."""
    d = addresses.shape[0]
    xx = 0.0
    for f in range(d):
        column = carray(_pointer(addresses[f] + 8 * start), stop - start, np.float64)
        a, b, q = _sums(column, shift[f])
        s1[f] += a
        s2[f] += b
        xx += q
        if copy:
            out = xt[f]
            for i in range(stop - start):
                out[offset + start + i] = np.float32(column[i])
    for i in range(start, stop):
        row = x[i]
        if copy:
            squares = 0.0
            for f in range(d):
                v = _load(addresses[f] + 8 * i)
                row[f] = v
                squares += v * v
            norms[offset + i] = np.float32(np.sqrt(squares) * (1 + 1e-6))
        else:
            for f in range(d):
                row[f] = _load(addresses[f] + 8 * i)
    return xx
'''.replace("{TILE}", str(TILE))
