"""The grid of each protocol script, registry-driven: ``PROTOCOLS[name](args, env, repo) -> Grid``.

Each builder is the loop its script used to run, producing :class:`~shipclip.sweep.grid.Run`
records instead of running them: same order, same output folders, same ``train.py`` arguments.
"""
from . import toyworld
from .configs import dataset_yaml, default_cfg, is_ship, is_zeroshot, trainer_yaml, yaml_stem
from .errors import SweepError
from .grid import Grid, train_step
from .settings import Settings, env_default
from .variants import read_variants

XD_TARGETS = "caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft sun397 dtd eurosat ucf101"
DG_TARGETS = "imagenetv2 imagenet_sketch imagenet_a imagenet_r"
GZSL_DATASETS = "gzsl_cub gzsl_awa2 gzsl_sun"
TOYWORLD_TRAINERS = "ZeroshotCLIP CoOp SHIP_CoOp"


def _check_count(protocol, args, low, high, usage):
    if not low <= len(args) <= high:
        raise SweepError(f"{protocol} takes {usage} (got {len(args)} argument(s)): see bash scripts/{protocol}.sh --help.")


def _add_train_and_eval(grid, root, protocol, dataset, trainer, cfg, train, evaluate, extra=(), label=""):
    """For every seed, a training step and an evaluation of its model (a zero-shot trainer: two evaluations).

    ``train`` and ``evaluate`` are (folder under ``<root>/<protocol>/``, what the title says, overrides);
    both steps get ``DATASET.NUM_SHOTS`` first and ``extra`` last.
    """
    s = grid.settings
    shots = s.single_shots(grid.protocol)
    dcfg, tcfg = dataset_yaml(s, dataset), trainer_yaml(s, trainer, cfg)
    dname, cname = yaml_stem(dcfg), yaml_stem(tcfg)
    zeroshot = is_zeroshot(trainer)
    (train_folder, train_what, train_opts), (eval_folder, eval_what, eval_opts) = train, evaluate
    for seed in s.seeds:
        sub = f"{dname}/shots_{shots}/{trainer}/{cname}/seed{seed}"
        train_dir = f"{root}/{protocol}/{train_folder}/{sub}"
        common = dict(seed=seed, trainer=trainer, dataset_yaml=dcfg, trainer_yaml=tcfg)
        title = f"{label}{protocol} {dname} {trainer}/{cname} seed {seed}: "
        step = grid.add(train_step(
            s, out=train_dir, title=title + train_what, eval_only=zeroshot,
            overrides=("DATASET.NUM_SHOTS", shots, *train_opts, *extra), **common))
        grid.add(train_step(
            s, out=f"{root}/{protocol}/{eval_folder}/{sub}", title=title + eval_what, eval_only=True,
            model_dir=None if zeroshot else train_dir, depends_on=None if zeroshot else step.name,
            overrides=("DATASET.NUM_SHOTS", shots, *eval_opts, *extra), **common))


def _add_base2new(grid, root, dataset, trainer, cfg, extra=(), label=""):
    """Train on base classes, evaluate on new classes, for every seed (both steps get ``extra``)."""
    _add_train_and_eval(grid, root, "base2new", dataset, trainer, cfg,
                        ("train_base", "base classes", ("DATASET.SUBSAMPLE_CLASSES", "base")),
                        ("test_new", "new classes", ("DATASET.SUBSAMPLE_CLASSES", "new")), extra, label)


def base2new(args, env, repo, echo=print):
    """``base2new.sh DATASET TRAINER [CFG]``, or no argument: the built-in ToyWorld default."""
    if not args:
        settings = Settings.from_env(env, repo, seeds="1")
        world = toyworld.prepare(settings, echo=echo)
        settings = Settings.from_env(dict(env, DATA=world.root), repo, seeds="1")
        grid = Grid("base2new", settings, settings.output, ("--protocol", "base2new"))
        extra = ("MODEL.BACKBONE.NAME", world.backbone, "MODEL.BACKBONE.PRETRAINED", world.weights)
        for trainer in env_default(env, "TRAINERS", TOYWORLD_TRAINERS).split():
            _add_base2new(grid, settings.output, "toyworld", trainer, env_default(env, "CFG", "toyworld"), extra)
        return grid
    _check_count("base2new", args, 2, 3, "DATASET TRAINER [CFG]")
    settings = Settings.from_env(env, repo)
    dataset, trainer = args[0], args[1]
    cfg = args[2] if len(args) > 2 else default_cfg(trainer, "base2new")
    settings.require_data()
    grid = Grid("base2new", settings, settings.output, ("--protocol", "base2new"))
    _add_base2new(grid, settings.output, dataset, trainer, cfg)
    return grid


def xd(args, env, repo, echo=print):
    """``xd.sh TRAINER [CFG]``: train on SOURCE, evaluate on TARGETS and DG_TARGETS.

    A SHIP trainer treats the target's classes as label-only, so it trains once per target into
    ``to_<target>``; other trainers train once per seed and every target evaluates that model.
    """
    _check_count("xd", args, 1, 2, "TRAINER [CFG]")
    s = Settings.from_env(env, repo)
    trainer = args[0]
    cfg = args[1] if len(args) > 1 else default_cfg(trainer, "xd")
    source = env_default(env, "SOURCE", "imagenet")
    targets = env.get("TARGETS", XD_TARGETS).split() + env.get("DG_TARGETS", DG_TARGETS).split()
    s.require_data()
    shots = s.single_shots("xd")
    grid = Grid("xd", s, s.output, ("--protocol", "xd"))
    src_cfg, tcfg = dataset_yaml(s, source), trainer_yaml(s, trainer, cfg)
    src_name, cname = yaml_stem(src_cfg), yaml_stem(tcfg)
    model_root = f"{s.output}/xd/train/{src_name}/shots_{shots}/{trainer}/{cname}"
    zeroshot, ship = is_zeroshot(trainer), is_ship(trainer)
    for seed in s.seeds:
        common = dict(seed=seed, trainer=trainer, trainer_yaml=tcfg)
        shared = f"{model_root}/seed{seed}"
        shared_run = None
        if not ship:
            shared_run = grid.add(train_step(
                s, out=shared, title=f"xd {trainer}/{cname} seed {seed}: source {src_name}", dataset_yaml=src_cfg,
                eval_only=zeroshot, overrides=("DATASET.NUM_SHOTS", shots), **common))
        for target in targets:
            tgt_cfg = dataset_yaml(s, target)
            tgt_name = yaml_stem(tgt_cfg)
            label_only = ()
            model, needs = shared, shared_run
            if ship:
                label_only = ("TRAINER.SHIP.LABEL_ONLY", "all-target", "TRAINER.SHIP.TARGET_DATASET", tgt_name)
                model = f"{model_root}/to_{tgt_name}/seed{seed}"
                needs = grid.add(train_step(
                    s, out=model, dataset_yaml=src_cfg, overrides=("DATASET.NUM_SHOTS", shots, *label_only),
                    title=f"xd {trainer}/{cname} seed {seed}: source {src_name} with {tgt_name}'s classes as label-only",
                    **common))
            grid.add(train_step(
                s, out=f"{s.output}/xd/test/{tgt_name}/shots_{shots}/{trainer}/{cname}/seed{seed}",
                title=f"xd {trainer}/{cname} seed {seed}: target {tgt_name}", dataset_yaml=tgt_cfg, eval_only=True,
                model_dir=None if zeroshot else model, depends_on=None if zeroshot else needs.name,
                overrides=label_only, **common))
    return grid


def gzsl(args, env, repo, echo=print):
    """``gzsl.sh TRAINER [CFG]``: train on seen classes, evaluate in the joint label space (DATASETS)."""
    _check_count("gzsl", args, 1, 2, "TRAINER [CFG]")
    s = Settings.from_env(env, repo)
    trainer = args[0]
    cfg = args[1] if len(args) > 1 else default_cfg(trainer, "gzsl")
    datasets = env_default(env, "DATASETS", GZSL_DATASETS).split()
    s.require_data()
    grid = Grid("gzsl", s, s.output, ("--protocol", "gzsl"))
    for dataset in datasets:
        _add_train_and_eval(grid, s.output, "gzsl", dataset, trainer, cfg,
                            ("train_seen", "seen classes", ("DATASET.SUBSAMPLE_CLASSES", "base")),
                            ("test_joint", "joint label space",
                             ("DATASET.SUBSAMPLE_CLASSES", "all", "TEST.JOINT", "True")))
    return grid


def fewshot(args, env, repo, echo=print):
    """``fewshot.sh DATASET TRAINER [CFG]``: one independent run per shot count (SHOTS) and seed."""
    _check_count("fewshot", args, 2, 3, "DATASET TRAINER [CFG]")
    s = Settings.from_env(env, repo, shots="1 2 4 8 16")
    dataset, trainer = args[0], args[1]
    cfg = args[2] if len(args) > 2 else default_cfg(trainer, "fewshot")
    s.require_data()
    grid = Grid("fewshot", s, s.output, ("--protocol", "fewshot"))
    dcfg, tcfg = dataset_yaml(s, dataset), trainer_yaml(s, trainer, cfg)
    dname, cname = yaml_stem(dcfg), yaml_stem(tcfg)
    zeroshot = is_zeroshot(trainer)
    for shots in (["0"] if zeroshot else s.shots.split()):
        for seed in s.seeds:
            grid.add(train_step(
                s, out=f"{s.output}/fewshot/{dname}/shots_{shots}/{trainer}/{cname}/seed{seed}",
                title=f"fewshot {dname} {trainer}/{cname} {shots} shots seed {seed}", seed=seed, trainer=trainer,
                dataset_yaml=dcfg, trainer_yaml=tcfg, eval_only=zeroshot,
                overrides=() if zeroshot else ("DATASET.NUM_SHOTS", shots)))
    return grid


def ablation(args, env, repo, echo=print):
    """``ablation.sh DATASET [VARIANTS]``: base-to-new once per variant, into ``ablation/<variant>``."""
    if not args:
        raise SweepError("ablation takes DATASET [VARIANT ... | FILE]: see bash scripts/ablation.sh --help.")
    s = Settings.from_env(env, repo)
    dataset = args[0]
    trainer = env_default(env, "TRAINER", "SHIP_CoOp")
    cfg = env_default(env, "CFG", default_cfg(trainer, "ablation"))
    s.require_data()
    grid = Grid("ablation", s, f"{s.output}/ablation", ("--protocol", "ablation"))
    for variant in read_variants(args[1:], cwd=s.cwd):
        _add_base2new(grid, f"{s.output}/ablation/{variant.name}", dataset, trainer, cfg, variant.overrides,
                      label=f"ablation {variant.name} ({variant.describe()}): ")
    return grid


PROTOCOLS = {
    "base2new": base2new,
    "xd": xd,
    "gzsl": gzsl,
    "fewshot": fewshot,
    "ablation": ablation,
}


def build_grid(protocol, args, env, repo, echo=print):
    """The grid of ``scripts/<protocol>.sh ARGS`` under the environment ``env``."""
    if protocol not in PROTOCOLS:
        raise SweepError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}.")
    return PROTOCOLS[protocol](list(args), dict(env), repo, echo=echo)
