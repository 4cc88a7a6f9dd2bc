"""Dassl default config and the merge helpers' errors."""
import copy
import textwrap

import pytest
from yacs.config import CfgNode as CN

from shipclip.config import extend_cfg
from shipclip.engine.config import get_cfg_default, merge_from_file, merge_from_list

# (key, default) pairs from the reference spec's table of Dassl defaults.
DASSL_DEFAULTS = {
    "VERSION": 1, "OUTPUT_DIR": "./output", "RESUME": "", "SEED": -1, "USE_CUDA": True, "VERBOSE": True,
    "INPUT.SIZE": (224, 224), "INPUT.INTERPOLATION": "bilinear", "INPUT.TRANSFORMS": (),
    "INPUT.NO_TRANSFORM": False, "INPUT.PIXEL_MEAN": [0.485, 0.456, 0.406], "INPUT.PIXEL_STD": [0.229, 0.224, 0.225],
    "INPUT.RRCROP_SCALE": (0.08, 1.0), "INPUT.CROP_PADDING": 4, "INPUT.CUTOUT_N": 1, "INPUT.CUTOUT_LEN": 16,
    "INPUT.GN_MEAN": 0.0, "INPUT.GN_STD": 0.15, "INPUT.RANDAUGMENT_N": 2, "INPUT.RANDAUGMENT_M": 10,
    "INPUT.COLORJITTER_B": 0.4, "INPUT.COLORJITTER_C": 0.4, "INPUT.COLORJITTER_S": 0.4,
    "INPUT.COLORJITTER_H": 0.1, "INPUT.RGS_P": 0.2, "INPUT.GB_P": 0.5, "INPUT.GB_K": 21,
    "DATASET.ROOT": "", "DATASET.NAME": "", "DATASET.SOURCE_DOMAINS": (), "DATASET.TARGET_DOMAINS": (),
    "DATASET.NUM_SHOTS": -1, "DATASET.NUM_LABELED": -1, "DATASET.VAL_PERCENT": 0.1, "DATASET.STL10_FOLD": -1,
    "DATASET.CIFAR_C_TYPE": "", "DATASET.CIFAR_C_LEVEL": 1, "DATASET.ALL_AS_UNLABELED": False,
    "DATALOADER.NUM_WORKERS": 4, "DATALOADER.K_TRANSFORMS": 1, "DATALOADER.RETURN_IMG0": False,
    "DATALOADER.TRAIN_X.SAMPLER": "RandomSampler", "DATALOADER.TRAIN_X.BATCH_SIZE": 32,
    "DATALOADER.TRAIN_X.N_DOMAIN": 0, "DATALOADER.TRAIN_X.N_INS": 16,
    "DATALOADER.TRAIN_U.SAME_AS_X": True, "DATALOADER.TRAIN_U.SAMPLER": "RandomSampler",
    "DATALOADER.TRAIN_U.BATCH_SIZE": 32, "DATALOADER.TRAIN_U.N_DOMAIN": 0, "DATALOADER.TRAIN_U.N_INS": 16,
    "DATALOADER.TEST.SAMPLER": "SequentialSampler", "DATALOADER.TEST.BATCH_SIZE": 32,
    "MODEL.INIT_WEIGHTS": "", "MODEL.BACKBONE.NAME": "", "MODEL.BACKBONE.PRETRAINED": True,
    "MODEL.HEAD.NAME": "", "MODEL.HEAD.HIDDEN_LAYERS": (), "MODEL.HEAD.ACTIVATION": "relu", "MODEL.HEAD.BN": True,
    "MODEL.HEAD.DROPOUT": 0.0,
    "OPTIM.NAME": "adam", "OPTIM.LR": 0.0003, "OPTIM.WEIGHT_DECAY": 5e-4, "OPTIM.MOMENTUM": 0.9,
    "OPTIM.SGD_DAMPNING": 0, "OPTIM.SGD_NESTEROV": False, "OPTIM.RMSPROP_ALPHA": 0.99, "OPTIM.ADAM_BETA1": 0.9,
    "OPTIM.ADAM_BETA2": 0.999, "OPTIM.STAGED_LR": False, "OPTIM.NEW_LAYERS": (), "OPTIM.BASE_LR_MULT": 0.1,
    "OPTIM.LR_SCHEDULER": "single_step", "OPTIM.STEPSIZE": (-1,), "OPTIM.GAMMA": 0.1, "OPTIM.MAX_EPOCH": 10,
    "OPTIM.WARMUP_EPOCH": -1, "OPTIM.WARMUP_TYPE": "linear", "OPTIM.WARMUP_CONS_LR": 1e-5,
    "OPTIM.WARMUP_MIN_LR": 1e-5, "OPTIM.WARMUP_RECOUNT": True,
    "TRAIN.CHECKPOINT_FREQ": 0, "TRAIN.PRINT_FREQ": 10, "TRAIN.COUNT_ITER": "train_x",
    "TEST.EVALUATOR": "Classification", "TEST.PER_CLASS_RESULT": False, "TEST.COMPUTE_CMAT": False,
    "TEST.NO_TEST": False, "TEST.SPLIT": "test", "TEST.FINAL_MODEL": "last_step", "TRAINER.NAME": "",
}

COOP_YAML = """\
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 32
  TEST:
    BATCH_SIZE: 100
  NUM_WORKERS: 8

INPUT:
  SIZE: (224, 224)
  INTERPOLATION: "bicubic"
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
  TRANSFORMS: ["random_resized_crop", "random_flip", "normalize"]

OPTIM:
  NAME: "sgd"
  LR: 0.002
  MAX_EPOCH: 200
  LR_SCHEDULER: "cosine"
  WARMUP_EPOCH: 1
  WARMUP_TYPE: "constant"
  WARMUP_CONS_LR: 1e-5

TRAIN:
  PRINT_FREQ: 5

MODEL:
  BACKBONE:
    NAME: "RN50"
"""


def _get(cfg, full_key):
    node = cfg
    for part in full_key.split("."):
        node = node[part]
    return node


def _write(tmp_path, text, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_defaults_have_dassl_keys_values_and_types():
    cfg = get_cfg_default()
    for key, value in DASSL_DEFAULTS.items():
        got = _get(cfg, key)
        assert got == value, key
        assert type(got) is type(value), key


def test_get_cfg_default_returns_independent_copies():
    a, b = get_cfg_default(), get_cfg_default()
    a.OPTIM.LR = 1.0
    a.INPUT.PIXEL_MEAN[0] = 9.0
    assert b.OPTIM.LR == 0.0003 and b.INPUT.PIXEL_MEAN[0] == 0.485
    assert get_cfg_default().OPTIM.LR == 0.0003


def test_merge_coop_yaml_keeps_yacs_semantics(tmp_path):
    path = _write(tmp_path, COOP_YAML)
    cfg = merge_from_file(extend_cfg(get_cfg_default()), path)
    assert cfg.INPUT.SIZE == (224, 224) and isinstance(cfg.INPUT.SIZE, tuple)
    assert cfg.INPUT.TRANSFORMS == ("random_resized_crop", "random_flip", "normalize")
    assert isinstance(cfg.INPUT.TRANSFORMS, tuple)  # list -> tuple as the default's type
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and isinstance(cfg.OPTIM.WARMUP_CONS_LR, float)
    assert cfg.OPTIM.MAX_EPOCH == 200 and cfg.DATALOADER.TEST.BATCH_SIZE == 100

    # Identical to a plain yacs merge of the same file.
    ref = extend_cfg(get_cfg_default())
    ref.merge_from_file(path)
    assert cfg == ref


def test_merge_from_list_literal_eval_and_tuple(tmp_path):
    cfg = extend_cfg(get_cfg_default())
    opts = ["DATASET.NUM_SHOTS", "16", "OPTIM.LR", "1e-3", "INPUT.SIZE", "(32, 32)",
            "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.STEPSIZE", "[3, 6]", "TEST.NO_TEST", "True"]
    merge_from_list(cfg, opts)
    assert cfg.DATASET.NUM_SHOTS == 16 and cfg.OPTIM.LR == 1e-3
    assert cfg.INPUT.SIZE == (32, 32) and cfg.DATASET.SUBSAMPLE_CLASSES == "base"
    assert cfg.OPTIM.STEPSIZE == (3, 6) and isinstance(cfg.OPTIM.STEPSIZE, tuple)
    assert cfg.TEST.NO_TEST is True
    ref = extend_cfg(get_cfg_default())
    ref.merge_from_list(opts)
    assert cfg == ref
    assert merge_from_list(cfg, []) is cfg and merge_from_list(cfg, None) is cfg


def test_unknown_key_in_file_names_key_file_and_suggestion(tmp_path):
    path = _write(tmp_path, """\
        OPTIM:
          LR_SCHEDULR: "cosine"
        """)
    with pytest.raises(KeyError) as info:
        merge_from_file(get_cfg_default(), path)
    msg = str(info.value)
    assert "OPTIM.LR_SCHEDULR" in msg and path in msg
    assert 'Did you mean "OPTIM.LR_SCHEDULER"' in msg


def test_unknown_key_suggests_same_leaf_in_other_group():
    with pytest.raises(KeyError) as info:
        merge_from_list(get_cfg_default(), ["TRAIN.MAX_EPOCH", "5"])
    msg = str(info.value)
    assert "TRAIN.MAX_EPOCH" in msg and "command line" in msg and "OPTIM.MAX_EPOCH" in msg


def test_unknown_key_on_command_line_variants():
    cfg = get_cfg_default()
    for key in ("OPTIM.LR.X", "OPTIMM.LR", "DATASET.NUM_SHOT"):
        with pytest.raises(KeyError, match="command line"):
            merge_from_list(cfg, [key, "1"])
    with pytest.raises(KeyError, match="NUM_SHOTS"):
        merge_from_list(cfg, ["DATASET.NUM_SHOT", "1"])
    assert cfg == get_cfg_default()  # nothing merged on failure


def test_wrong_type_names_key_type_value_and_source(tmp_path):
    with pytest.raises(ValueError) as info:
        merge_from_list(get_cfg_default(), ["OPTIM.MAX_EPOCH", "ten"])
    msg = str(info.value)
    assert "OPTIM.MAX_EPOCH" in msg and "int" in msg and "'ten'" in msg and "command line" in msg

    path = _write(tmp_path, "OPTIM:\n  LR: 1\n")
    with pytest.raises(ValueError) as info:
        merge_from_file(get_cfg_default(), path)
    msg = str(info.value)
    assert "OPTIM.LR" in msg and "float" in msg and path in msg and "1.0" in msg

    path = _write(tmp_path, "OPTIM: 3\n", name="group.yaml")
    with pytest.raises(ValueError, match="OPTIM"):
        merge_from_file(get_cfg_default(), path)


def test_missing_file_and_bad_yaml(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        merge_from_file(get_cfg_default(), missing)
    bad = _write(tmp_path, "OPTIM: [unclosed\n", name="bad.yaml")
    with pytest.raises(ValueError, match="bad.yaml"):
        merge_from_file(get_cfg_default(), bad)
    listy = _write(tmp_path, "- a\n- b\n", name="list.yaml")
    with pytest.raises(ValueError, match="mapping"):
        merge_from_file(get_cfg_default(), listy)
    empty = _write(tmp_path, "", name="empty.yaml")
    assert merge_from_file(get_cfg_default(), empty) == get_cfg_default()


def test_odd_number_of_opts():
    with pytest.raises(ValueError, match="odd number"):
        merge_from_list(get_cfg_default(), ["OPTIM.LR", "0.1", "SEED"])


def test_new_allowed_node_accepts_new_keys(tmp_path):
    cfg = get_cfg_default()
    cfg.EXTRA = CN(new_allowed=True)
    path = _write(tmp_path, "EXTRA:\n  ANYTHING: 3\n")
    merge_from_file(cfg, path)
    assert cfg.EXTRA.ANYTHING == 3


def test_helpers_do_not_depend_on_our_defaults():
    """They take any yacs CfgNode (e.g. real Dassl's)."""
    cfg = CN()
    cfg.A = CN()
    cfg.A.B = [1, 2]
    merge_from_list(cfg, ["A.B", "(3, 4)"])
    assert cfg.A.B == [3, 4]
    before = copy.deepcopy(cfg)
    with pytest.raises(KeyError, match='Did you mean "A.B"'):
        merge_from_list(cfg, ["A.C", "1"])
    assert cfg == before
