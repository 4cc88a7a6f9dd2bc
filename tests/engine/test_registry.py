"""Registry: duplicates, unknown names with a suggestion, forced overrides."""
import pytest

from shipclip.engine.registry import Registry, check_availability


def test_register_get_and_names():
    reg = Registry("THING")

    @reg.register()
    class Alpha:
        pass

    class Beta:
        pass

    reg.register(Beta)
    reg.register(name="gamma")(Alpha)
    assert reg.get("Alpha") is Alpha and reg.get("Beta") is Beta and reg.get("gamma") is Alpha
    assert reg.registered_names() == ["Alpha", "Beta", "gamma"]
    assert "Beta" in reg and "Delta" not in reg


def test_duplicate_name_raises_unless_forced():
    reg = Registry("THING")

    class CoOp:
        pass

    class Other:
        pass

    reg.register(CoOp)
    with pytest.raises(KeyError, match="CoOp"):
        reg.register(CoOp)
    with pytest.raises(KeyError):
        reg.register(name="CoOp")(Other)
    assert reg.get("CoOp") is CoOp
    reg.register(Other, force=True, name="CoOp")
    assert reg.get("CoOp") is Other


def test_unknown_name_suggests_closest():
    reg = Registry("TRAINER")
    for name in ("CoOp", "CoCoOp", "ZeroshotCLIP"):
        reg.register(type(name, (), {}))
    with pytest.raises(KeyError) as info:
        reg.get("CoCop")
    assert 'Did you mean "CoCoOp"' in str(info.value) and "TRAINER" in str(info.value)


def test_check_availability():
    check_availability("Classification", ["Classification"])
    with pytest.raises(ValueError) as info:
        check_availability("ZeroShotCLIP", ["CoOp", "ZeroshotCLIP"])
    assert 'Did you mean "ZeroshotCLIP"' in str(info.value) and "ZeroShotCLIP" in str(info.value)
