"""Train or evaluate a trainer with CoOp's command line.

    python train.py --root DATA --trainer SHIP_CoOp --dataset-config-file configs/datasets/x.yaml \
        --config-file configs/trainers/y.yaml --output-dir output/run --seed 1 [KEY VALUE ...]

The config is built in CoOp's order: defaults (engine + ``shipclip.config.extend_cfg``), dataset
YAML, trainer YAML, command-line flags, trailing ``KEY VALUE`` pairs; then it is frozen. Unlike
CoOp, ``--seed 0`` is a seed.

Extra trainers/datasets: ``SHIPCLIP_EXTRA_MODULES`` is a comma-separated list of module names
(importable from ``sys.path``) or ``.py`` file paths, imported after the project's own trainers
and datasets are registered and before the trainer is built. Use it to register your own
classes without editing this file::

    SHIPCLIP_EXTRA_MODULES=my_trainers,/path/to/my_dataset.py python train.py --trainer MyTrainer ...

SHIP on your own trainer: ``--trainer SHIP+<Name>`` runs the registered trainer ``<Name>`` (e.g. one
listed in ``SHIPCLIP_EXTRA_MODULES``) with SHIP (see shipclip/ship/lab_trainers.py and docs/DASSL.md).

Several GPUs (built-in engine): ``torchrun --standalone --nproc_per_node N train.py ...`` runs one
process per GPU; ``DATALOADER.TRAIN_X.BATCH_SIZE`` is then per process (see docs/MULTI_GPU.md).
"""
import argparse
import importlib
import importlib.util
import os
import sys

EXTRA_MODULES_ENV = "SHIPCLIP_EXTRA_MODULES"


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=str, default="", help="path to dataset")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="",
                        help="checkpoint directory (from which the training resumes)")
    parser.add_argument("--seed", type=int, default=None,
                        help="fixed seed (0 included); a negative value leaves the RNGs unseeded")
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="path to config file")
    parser.add_argument("--dataset-config-file", type=str, default="",
                        help="path to config file for dataset setup")
    parser.add_argument("--trainer", type=str, default="", help="name of trainer")
    parser.add_argument("--backbone", type=str, default="", help="name of CNN backbone")
    parser.add_argument("--head", type=str, default="", help="name of head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="",
                        help="load model from this directory for eval-only mode")
    parser.add_argument("--load-epoch", type=int, help="load model weights at this epoch for evaluation")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER,
                        help="modify config options using the command-line (KEY VALUE pairs)")
    return parser


def reset_cfg(cfg, args):
    """Apply the command-line flags that map to config keys (empty flags leave the key alone)."""
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed is not None:
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head


def setup_cfg(args):
    """Defaults -> dataset YAML -> trainer YAML -> flags -> opts, then freeze."""
    from shipclip.config import get_cfg
    from shipclip.infra.config_merge import merge_from_file, merge_from_list

    cfg = get_cfg()
    if args.dataset_config_file:
        merge_from_file(cfg, args.dataset_config_file)
    if args.config_file:
        merge_from_file(cfg, args.config_file)
    reset_cfg(cfg, args)
    merge_from_list(cfg, args.opts)
    cfg.freeze()
    return cfg


def print_args(args, cfg):
    print("***************")
    print("** Arguments **")
    print("***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************")
    print("** Config **")
    print("************")
    print(cfg)


def _import_extra(entry):
    if entry.endswith(".py"):
        path = os.path.abspath(os.path.expanduser(entry))
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{EXTRA_MODULES_ENV} names "{entry}", but no such file exists.')
        # A prefixed module name, so a file called e.g. utils.py cannot replace an imported module.
        name = "shipclip_extra_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    try:
        return importlib.import_module(entry)
    except ModuleNotFoundError as exc:
        if exc.name != entry.split(".")[0] and exc.name != entry:
            raise
        raise ModuleNotFoundError(
            f'{EXTRA_MODULES_ENV} names module "{entry}", which is not importable. Put its folder on '
            "PYTHONPATH or give the path of the .py file instead."
        ) from exc


def register_components():
    """Register the project's trainers/datasets, then import ``SHIPCLIP_EXTRA_MODULES``."""
    try:
        from shipclip.registration import register_all
    except ModuleNotFoundError as exc:
        if exc.name != "shipclip.registration":
            raise
        register_all = None
    if register_all is not None:
        register_all()
    for entry in os.environ.get(EXTRA_MODULES_ENV, "").split(","):
        if entry.strip():
            _import_extra(entry.strip())


def _ensure_requested_trainer(name):
    """``--trainer SHIP+<Name>``: SHIP on a registered trainer of yours, made on request."""
    from shipclip.ship.lab_registry import ensure_ship_variant

    ensure_ship_variant(name)


def _check_eval_args(args):
    if args.model_dir and not os.path.isdir(args.model_dir):
        raise FileNotFoundError(
            f'--model-dir "{args.model_dir}" does not exist. Give the --output-dir of the training run '
            "whose weights you want to evaluate."
        )
    if args.load_epoch is not None and not args.model_dir:
        raise ValueError("--load-epoch needs --model-dir (the training run folder to load the epoch from).")


def _finished(output_dir):
    from shipclip.results import is_finished

    return is_finished(output_dir)


def run_args(args, cfg):
    """What identifies this run in results.json besides the config (see shipclip.provenance)."""
    from shipclip.provenance import from_args

    return from_args(args, cfg, train_py=os.path.abspath(__file__))


def main(args):
    import torch

    from shipclip.backend import (ENGINE, build_trainer, collect_env_info, engine_description, set_random_seed,
                                  setup_logger)
    from shipclip.infra.distributed import setup_distributed, shared_seed

    if args.eval_only:
        _check_eval_args(args)
    cfg = setup_cfg(args)
    setup_distributed(cfg, engine=ENGINE)  # under torchrun: join the process group (else nothing)
    if not args.eval_only and not args.no_train and _finished(cfg.OUTPUT_DIR):
        print(f'Skipping: "{cfg.OUTPUT_DIR}" already holds a finished run (results.json has its final test '
              "evaluation). Delete that folder or choose another --output-dir to run it again.")
        return None
    setup_logger(cfg.OUTPUT_DIR)
    print(engine_description())
    register_components()  # imports only; before seeding so nothing it draws shifts the seeded streams
    _ensure_requested_trainer(cfg.TRAINER.NAME)
    seed = shared_seed(cfg.SEED)  # under torchrun every rank needs the same seed, even when unseeded
    if seed >= 0:
        print(f"Setting fixed seed: {seed}")
        set_random_seed(seed)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print_args(args, cfg)
    if cfg.VERBOSE:
        print("Collecting env info ...")
        print(f"** System info **\n{collect_env_info()}\n")

    trainer = build_trainer(cfg)
    trainer.run_args = run_args(args, cfg)

    if args.eval_only:
        if not args.model_dir and trainer.get_model_names():
            raise ValueError(
                f"--eval-only needs --model-dir: trainer {cfg.TRAINER.NAME} has learned weights "
                f"({', '.join(trainer.get_model_names())}) and would otherwise be evaluated untrained."
            )
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return trainer
    if not args.no_train:
        trainer.train()
    return trainer


if __name__ == "__main__":
    main(build_parser().parse_args())
    from shipclip.infra.distributed import cleanup_distributed

    cleanup_distributed()  # leave the process group of a torchrun launch (no-op otherwise)
