"""Class design: plain-word names, CoCoOp's base/new rule, attributes shared by both halves."""
import math

import open_clip
import pytest

from shipclip.toyworld.world import COLORS, SHAPES, World, default_world, quick_world


@pytest.mark.parametrize("world", [default_world(), quick_world()], ids=["default", "quick"])
def test_base_and_new_share_every_attribute(world):
    n = world.num_classes
    assert n == len(world.colors) * len(world.shapes) == len(set(world.classnames))
    assert world.num_base == math.ceil(n / 2)
    assert world.base_classnames == world.classnames[: world.num_base]
    assert world.new_classnames == world.classnames[world.num_base:]
    for half in (world.base_classnames, world.new_classnames):
        assert {name.split(" ")[0] for name in half} == set(world.colors)
        assert {name.split(" ")[1] for name in half} == set(world.shapes)
    # Balanced: each colour has the same number of base classes (even shape count).
    if len(world.shapes) % 2 == 0:
        for color in world.colors:
            assert sum(name.startswith(color + " ") for name in world.base_classnames) == len(world.shapes) // 2


def test_folders_and_index_arrays_follow_the_class_order():
    world = default_world()
    color_ids, shape_ids = world.index_arrays()
    for name, folder, c, s in zip(world.classnames, world.folders, color_ids, shape_ids):
        assert folder == name.replace(" ", "_")
        assert name == f"{list(COLORS)[c]} {SHAPES[s]}"


def test_class_words_tokenise_to_plain_words():
    tok = open_clip.get_tokenizer("ViT-B-16")
    words = set(COLORS) | set(SHAPES)
    for word in words:
        ids = tok.encode(word)
        assert len(ids) == 1, f"{word!r} splits into {[tok.decoder[i] for i in ids]}"
        assert tok.decoder[ids[0]] == word + "</w>"  # a whole word, not byte-level pieces
    for name in default_world().classnames:
        ids = tok.encode(name)
        assert [tok.decoder[i] for i in ids] == [w + "</w>" for w in name.split(" ")]
        assert tok.decode(ids).strip() == name


def test_unknown_attribute_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="hexagon"):
        World(colors=("red", "blue"), shapes=("circle", "hexagon"))
    with pytest.raises(ValueError, match="at least 2"):
        World(colors=("red",), shapes=("circle", "star"))
