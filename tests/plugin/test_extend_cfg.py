"""shipclip.config.extend_cfg inside a lab's own extend_cfg: it adds what is missing and never drops a lab key."""
import pytest
from yacs.config import CfgNode as CN


def engine_defaults():
    from shipclip.backend import get_cfg_default

    return get_cfg_default()


def lab_extend_cfg(cfg, call_ours_at):
    """A lab's extend_cfg: TRAINER.COOP with a key of its own and other values, no TRAINER.COCOOP."""
    from shipclip.config import extend_cfg as ship_extend_cfg

    if call_ours_at == "start":
        ship_extend_cfg(cfg)
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 4
    cfg.TRAINER.COOP.CSC = True
    cfg.TRAINER.COOP.CTX_INIT = "a photo of a"
    cfg.TRAINER.COOP.PREC = "amp"
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "middle"
    cfg.TRAINER.COOP.W_KG = 8.0  # the lab's own key (KgCoOp style)
    if call_ours_at == "middle":
        ship_extend_cfg(cfg)
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    cfg.TRAINER.LAB = CN()
    cfg.TRAINER.LAB.ALPHA = 0.25
    if call_ours_at == "end":
        ship_extend_cfg(cfg)
    return cfg


@pytest.mark.parametrize("position", ["start", "middle", "end"])
def test_lab_keys_survive_at_any_call_position(position):
    cfg = lab_extend_cfg(engine_defaults(), position)
    coop = cfg.TRAINER.COOP
    assert (coop.N_CTX, coop.CSC, coop.CTX_INIT, coop.PREC, coop.CLASS_TOKEN_POSITION, coop.W_KG) == \
        (4, True, "a photo of a", "amp", "middle", 8.0)
    assert cfg.TRAINER.LAB.ALPHA == 0.25
    # what the lab did not declare is there, with the project's defaults
    assert (cfg.TRAINER.COCOOP.N_CTX, cfg.TRAINER.COCOOP.CTX_INIT, cfg.TRAINER.COCOOP.PREC) == (16, "", "fp16")
    assert cfg.TRAINER.SHIP.LABEL_ONLY == "new" and cfg.TRAINER.TIP.AUGMENT_EPOCH == 10
    assert cfg.TEST.JOINT is False and cfg.FEATURES.CACHE is False


def test_missing_keys_are_added_to_an_existing_lab_node():
    from shipclip.config import extend_cfg

    cfg = engine_defaults()
    cfg.TRAINER.COCOOP = CN()
    cfg.TRAINER.COCOOP.PREC = "fp32"
    cfg.TRAINER.COCOOP.META_DIM = 32  # the lab's own
    extend_cfg(cfg)
    assert cfg.TRAINER.COCOOP.PREC == "fp32" and cfg.TRAINER.COCOOP.META_DIM == 32
    assert cfg.TRAINER.COCOOP.N_CTX == 16 and cfg.TRAINER.COCOOP.CTX_INIT == ""
    assert cfg.TRAINER.COOP.N_CTX == 16 and cfg.TRAINER.COOP.CLASS_TOKEN_POSITION == "end"


def test_a_lab_value_is_never_changed_by_a_second_call():
    from shipclip.config import extend_cfg

    cfg = lab_extend_cfg(engine_defaults(), "end")
    cfg.TRAINER.SHIP.EPOCHS = 3
    before = cfg.dump()
    extend_cfg(cfg)
    assert cfg.dump() == before


def test_backbone_weights_tag_replaces_only_the_engine_default():
    from shipclip.config import extend_cfg

    cfg = engine_defaults()
    cfg.MODEL.BACKBONE.PRETRAINED = True  # Dassl's own default value
    assert extend_cfg(cfg).MODEL.BACKBONE.PRETRAINED == "openai"
    cfg = engine_defaults()
    cfg.MODEL.BACKBONE.PRETRAINED = "/weights/lab.pt"
    assert extend_cfg(cfg).MODEL.BACKBONE.PRETRAINED == "/weights/lab.pt"


def test_frozen_config_is_refused_with_the_call_site():
    from shipclip.config import extend_cfg

    cfg = engine_defaults()
    cfg.freeze()
    with pytest.raises(RuntimeError, match=r"before cfg.freeze\(\)"):
        extend_cfg(cfg)


def test_our_trainer_yaml_merges_into_the_lab_config():
    import os

    from shipclip_testing.runs import REPO

    cfg = lab_extend_cfg(engine_defaults(), "end")
    cfg.merge_from_file(os.path.join(REPO, "configs", "trainers", "SHIP_CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1.yaml"))
    assert cfg.TRAINER.COCOOP.N_CTX == 4 and cfg.TRAINER.SHIP.N_CTX == 4
    assert cfg.TRAINER.COOP.W_KG == 8.0
