"""Engine-neutral helpers: Datum construction under either engine, relative paths, fingerprints."""
import os

import pytest

from shipclip.datasets import layout
from shipclip_testing.fake_datasets import write_image
from shipclip.datasets.splits import split_fingerprint


class DasslStyleDatum:
    """Mimics Dassl's Datum: plain attributes, a bare ``assert`` on the file, no ``check_exists``."""

    def __init__(self, impath="", label=0, domain=0, classname=""):
        assert isinstance(impath, str)
        assert os.path.isfile(impath)
        self._impath, self._label, self._domain, self._classname = impath, label, domain, classname

    impath = property(lambda self: self._impath)
    label = property(lambda self: self._label)
    domain = property(lambda self: self._domain)
    classname = property(lambda self: self._classname)


@pytest.fixture(params=["backend", "dassl-style"])
def datum_class(request, monkeypatch):
    if request.param == "dassl-style":
        monkeypatch.setattr(layout, "Datum", DasslStyleDatum)
    return layout.Datum


def test_missing_image_error_under_both_engines(tmp_path, datum_class):
    missing = str(tmp_path / "nope.jpg")
    with pytest.raises(layout.DatasetLayoutError) as info:
        layout.make_datum(missing, 0, "x", source="split.json", section="OxfordPets")
    assert f'Image not found: "{missing}" (listed in "split.json")' in str(info.value)
    assert 'DATASETS.md, section "OxfordPets"' in str(info.value)


def test_unchecked_and_relabelled_items_under_both_engines(tmp_path, datum_class):
    path = str(tmp_path / "a.jpg")
    write_image(path)
    item = layout.make_datum(path, 3, "cat")
    assert isinstance(item, datum_class)
    ghost = layout.unchecked_datum(str(tmp_path / "listed-not-stated.jpg"), 2, "dog")  # no stat
    assert isinstance(ghost, datum_class)
    assert (ghost.impath, ghost.label, ghost.domain, ghost.classname) == (str(tmp_path / "listed-not-stated.jpg"),
                                                                         2, 0, "dog")
    moved = layout.relabel(item, 0)
    assert (moved.impath, moved.label, moved.classname) == (path, 0, "cat")


def test_relative_path(tmp_path):
    assert layout.relative_path("/d/images/a/b.jpg", "/d/images") == "a/b.jpg"
    assert layout.relative_path("/d/images/a/b.jpg", "/d/images/") == "a/b.jpg"
    assert layout.relative_path("/d/images/../images/c.jpg", "/d/images") == "c.jpg"
    with pytest.raises(ValueError, match="not inside the image folder"):
        layout.relative_path("/elsewhere/c.jpg", "/d/images")


def test_fingerprint_ignores_root_but_not_content(tmp_path):
    def items(root, labels):
        out = []
        for j, label in enumerate(labels):
            path = str(root / "img" / f"{j}.jpg")
            write_image(path, label)
            out.append(layout.make_datum(path, label, f"c{label}"))
        return out

    a = items(tmp_path / "a", [0, 1, 0])
    b = items(tmp_path / "b", [0, 1, 0])
    fp = split_fingerprint(str(tmp_path / "a" / "img"), a, None)
    assert fp == split_fingerprint(str(tmp_path / "b" / "img"), b, None)
    assert fp != split_fingerprint(str(tmp_path / "a" / "img"), a[::-1], None)  # order matters for the draws
    assert fp != split_fingerprint(str(tmp_path / "a" / "img"), a, [])  # so does the val list
    assert fp != split_fingerprint(str(tmp_path / "a" / "img"), items(tmp_path / "a", [0, 1, 1]), None)


def test_empty_root_names_the_key():
    class Cfg:
        class DATASET:
            ROOT = "  "

    with pytest.raises(layout.DatasetLayoutError, match="DATASET.ROOT is empty"):
        layout.dataset_root(Cfg)
