"""One SHIP_CoOp training epoch on cached image features vs encoding the images online.

Same data for both: ``--classes`` base classes x ``--shots`` generated 224 px JPEG images (plus as many
label-only classes, synthesized by the generator), the released SHIP_CoOp recipe
(configs/trainers/SHIP_CoOp/vit_b16_released.yaml) with a random ViT-B-16, and CoOp's batch of 32
real images (``--batch-size``) plus as many synthesized features per step.

* ``online``: ``FEATURES.CACHE False`` -- every step decodes, augments and encodes its images through
  the frozen image tower (Dassl's way);
* ``cached``: ``FEATURES.CACHE True`` with ``FEATURES.TRAIN_VIEWS --views`` -- the trainer encodes the
  training set once per view (plus val and test) when it is built, and every step reads features.

Two trainers are built, identical but for ``FEATURES.CACHE``. An epoch includes data loading, the image
tower (online only), the synthesis of label-only features, the text tower over all classes and the
optimizer step; the two trainers run their epochs in interleaved rounds and the fastest epoch of each
is reported. Before that, each fits its stage-1 generator (on random features: its quality changes no
timing) and runs one untimed training step. The cache build is reported on its own line, with the
number of epochs after which it has paid for itself.

    python benchmarks/bench_feature_cache.py [--quick] [--threads N] [--views K] [--batch-size B]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, workloads  # noqa: E402

TARGET = 5.0
VARIANTS = ("online", "cached")


def build(args, work, name):
    """A trainer ready for its first measured epoch (stage 1 done, one warm-up step taken)."""
    from shipclip.data import CachedFeatureDataset

    trainer = workloads.ship_coop_trainer(args, work, name, opts=[
        "FEATURES.CACHE", str(name == "cached"), "FEATURES.TRAIN_VIEWS", str(args.views)])
    served = isinstance(getattr(trainer.train_loader_x, "dataset", None), CachedFeatureDataset)
    if served != (name == "cached"):
        raise RuntimeError(f"FEATURES.CACHE {name == 'cached'} gave a training loader over "
                           f"{'features' if served else 'images'}; the trainer's data path must serve cached features "
                           "exactly when FEATURES.CACHE is on.")
    trainer.before_train()  # stage 1 (generator) and the engine's bookkeeping
    batch = next(iter(trainer.train_loader_x))
    trainer.batch_idx, trainer.num_batches = 0, 2  # not the last batch: the LR schedule is left alone
    trainer.forward_backward(batch)
    trainer.max_epoch = args.epochs
    return trainer


def epoch_runner(trainer):
    """A callable running the trainer's next epoch."""
    def run_epoch():
        trainer.before_epoch()
        trainer.run_epoch()
        trainer.epoch += 1
    trainer.epoch = 0
    return run_epoch


def run(args, work, log):
    with common.quiet(log):
        workloads.prepare_ship_data(args, work)
        trainers = {name: build(args, work, name) for name in VARIANTS}
    online = trainers["online"]
    images, steps = len(online.dm.dataset.train_x), len(online.train_loader_x)
    used = min(steps * args.batch_size, images)
    print(f"-- {images} training images ({used} used per epoch: Dassl drops an incomplete last batch), "
          f"{len(online.get_train_classnames())} classes (base + label-only); {steps} step(s) of "
          f"{args.batch_size} real + {args.batch_size} synthesized features per epoch; best of {args.epochs} epoch(s)")
    meter = common.Meter()
    times = common.interleaved({name: epoch_runner(t) for name, t in trainers.items()}, args.epochs, meter=meter,
                               desc="epochs", log=log)
    common.ratio_line("SHIP_CoOp epoch, cached vs online image features", "online", times["online"],
                      "cached", times["cached"], target=TARGET, quick=args.quick)
    build_s = trainers["cached"].cache_build_s
    saved = times["online"]["best_s"] - times["cached"]["best_s"]
    pays = f"pays for itself after {build_s / saved:.1f} epoch(s)" if saved > 0 else "never pays for itself here"
    print(f"CACHE build ({args.views} training view(s) + val + test, once per dataset/seed/backbone): "
          f"{build_s:.2f} s; {pays}")
    for name in VARIANTS:
        common.memory_line(f"SHIP_CoOp epoch, {name}", meter.memory[name])


def main(argv=None):
    parser = common.build_parser(__doc__.splitlines()[0])
    workloads.add_ship_size_arguments(parser)
    parser.add_argument("--views", type=int, default=None, help="FEATURES.TRAIN_VIEWS of the cache (default 1)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="measured epochs per variant, the fastest is reported (default 2; quick 1)")
    args = common.fill_defaults(parser.parse_args(argv), dict(classes=10, shots=4, batch_size=32, views=1, epochs=2),
                                dict(classes=2, shots=2, batch_size=2, views=1, epochs=1))
    workloads.check_ship_sizes(args, ("classes", "shots", "batch_size", "views", "epochs"))
    return common.run_benchmark(
        args, "SHIP_CoOp training epoch: feature cache vs online image encoding",
        f"{args.classes} base + "
        f"{args.classes} label-only classes; {args.shots} shots; batch {args.batch_size}; "
        f"{args.views} cached view(s)", run)


if __name__ == "__main__":
    sys.exit(main())
