"""Reading MATLAB ``.mat`` files (300W-LP, AFLW2000-3D) with one clear error for bad files."""

from __future__ import annotations

from pathlib import Path


class MatFileError(ValueError):
    """A ``.mat`` file that cannot be read; the message names the file and the reason."""


def load_mat(path: Path) -> dict:
    """``scipy.io.loadmat`` of ``path``; raises MatFileError for a missing, truncated or
    non-MATLAB file (scipy's own MatReadError is not a ValueError, so callers would miss it)."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        return scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError, MatReadError) as exc:
        raise MatFileError(f"{path}: not a readable .mat file ({exc})") from exc
