"""Small readers for MATLAB ``.mat`` annotation files (via ``scipy.io.loadmat``)."""
import numpy as np

__all__ = ["load_mat", "mat_str", "mat_int", "mat_list"]


def load_mat(path, variable_names=None):
    """``scipy.io.loadmat`` with an error that names the file; ``variable_names`` skips big arrays."""
    from scipy.io import loadmat

    try:
        return loadmat(path, variable_names=variable_names)
    except NotImplementedError:
        raise ValueError(
            f'"{path}" is a MATLAB v7.3 (HDF5) file, which scipy cannot read; re-save it as a v7 '
            "MAT-file or download the original file again."
        ) from None
    except (ValueError, OSError, TypeError) as exc:
        raise ValueError(f'Cannot read the MAT-file "{path}": {exc}') from None


def _unwrap(value):
    """Strip the 1-element arrays and cells MATLAB wraps around every value."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            if value.dtype.kind in "US" and value.ndim <= 1:
                return "".join(value.tolist())
            raise ValueError(f"Expected a single value in the MAT-file, got an array of shape {value.shape}.")
        value = value.reshape(-1)[0]
    return value


def mat_str(value):
    """A MATLAB string (char array, possibly inside a cell) as ``str``."""
    value = _unwrap(value)
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def mat_int(value):
    """A MATLAB numeric scalar as ``int``."""
    return int(_unwrap(value))


def mat_list(array):
    """The elements of a MATLAB vector or cell vector (any 1 x N / N x 1 shape) as a list."""
    return list(np.asarray(array).reshape(-1))
