"""The variant rule: frozen specs are what it draws, draws obey the rule, names resolve."""
import json

import pytest

from shipclip.toyworld import specs, variants
from shipclip.toyworld.world import COLORS, SHAPES


def test_frozen_variants_are_exactly_what_the_rule_draws():
    drawn = variants.draw_variants(len(specs.VARIANTS), specs.VARIANT_RULE_SEED)
    assert tuple(drawn) == specs.VARIANTS


@pytest.mark.parametrize("seed", [0, 1, specs.VARIANT_RULE_SEED])
def test_draws_obey_the_rule(seed):
    drawn = variants.draw_variants(8, seed)
    assert [s.name for s in drawn] == [f"variant-{k}" for k in range(1, 9)]
    seeds = [x for s in drawn for x in (s.dataset_seed, s.pretrain_seed)]
    assert len(set(seeds)) == len(seeds)
    assert not set(seeds) & {specs.DEFAULT.dataset_seed, specs.DEFAULT.pretrain_seed,
                             specs.DESIGN.dataset_seed, specs.DESIGN.pretrain_seed}
    assert len({(frozenset(s.world.colors), frozenset(s.world.shapes)) for s in drawn}) == len(drawn)
    for spec in drawn:
        world = spec.world
        assert spec.role == "reported"
        assert len(world.colors) in (4, 5) and len(world.shapes) in (5, 6, 7)
        assert set(world.colors) <= set(COLORS) and set(world.shapes) <= set(SHAPES)
        assert len(set(world.colors)) == len(world.colors) and len(set(world.shapes)) == len(world.shapes)
        assert 1000 <= spec.dataset_seed < 2**31 - 1 and 1000 <= spec.pretrain_seed < 2**31 - 1
        assert world.num_base >= 10 and world.num_classes - world.num_base >= 10


def test_same_seed_same_draws_other_seed_other_draws():
    assert variants.draw_variants(3, 5) == variants.draw_variants(3, 5)
    assert variants.draw_variants(3, 5) != variants.draw_variants(3, 6)
    assert variants.draw_variants(2, 5) == variants.draw_variants(3, 5)[:2]  # a longer list extends a shorter one


def test_cli_prints_one_json_spec_per_line(capsys):
    assert variants.main(["--count", "2", "--seed", "11"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line, spec in zip(lines, variants.draw_variants(2, 11)):
        row = json.loads(line)
        assert specs.WorldSpec.from_dict(row) == spec
        assert row["classes"] == spec.world.num_classes
        assert row["base"] + row["new"] == row["classes"]
    assert variants.main(["--count", "0"]) == 2


def test_named_specs_and_roles():
    assert specs.named_spec("default") == specs.DEFAULT and specs.DEFAULT.role == "reported"
    assert specs.named_spec("design").role == "design"
    assert specs.named_spec("variant-2") == specs.VARIANTS[1]
    with pytest.raises(ValueError, match="variant-1"):
        specs.named_spec("variant-99")
    names = specs.spec_names()
    assert len(names) == len(set(names))
    # The design world is neither the default world nor any variant.
    design = specs.DESIGN
    for other in (specs.DEFAULT, *specs.VARIANTS):
        assert (design.world, design.dataset_seed) != (other.world, other.dataset_seed)
        assert {design.dataset_seed, design.pretrain_seed}.isdisjoint({other.dataset_seed, other.pretrain_seed})
    assert set(design.world.colors) == set(specs.DEFAULT.world.colors)
    assert set(design.world.shapes) == set(specs.DEFAULT.world.shapes)
    assert design.world.base_classnames != specs.DEFAULT.world.base_classnames


def test_manifest_identification_falls_back_to_reported():
    default = specs.DEFAULT
    world = default.world.to_dict()
    assert specs.identify(world, default.dataset_seed) == default
    assert specs.role_of_manifest({"world": specs.DESIGN.world.to_dict(), "seed": specs.DESIGN.dataset_seed}) == "design"
    assert specs.role_of_manifest({"world": world, "seed": 12345}) == "reported"  # unknown: the safe side
    assert specs.role_of_manifest({}) == "reported"


def test_spec_round_trips_through_dict_and_rejects_bad_input():
    for spec in specs.known_specs():
        assert specs.WorldSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="pretrain_seed"):
        specs.WorldSpec.from_dict({"colors": ["red", "blue"], "shapes": ["circle", "star"], "dataset_seed": 3})
    with pytest.raises(ValueError, match="role"):
        specs.WorldSpec("x", specs.QUICK.world, 1, 0, role="secret")
