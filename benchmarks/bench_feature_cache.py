"""One SHIP_CoOp training epoch on cached image features vs encoding the images online.

Same data for both: ``--classes`` base classes x ``--shots`` generated 224 px JPEG images (plus as many
label-only classes, synthesized by the generator), the released SHIP_CoOp recipe
(configs/trainers/SHIP_CoOp/vit_b16_released.yaml) with a random ViT-B-16 and batch ``--batch-size``.

* ``online``: ``FEATURES.CACHE False`` -- every step decodes, augments and encodes its images through
  the frozen image tower (Dassl's way);
* ``cached``: ``FEATURES.CACHE True`` with ``FEATURES.TRAIN_VIEWS --views`` -- the trainer encodes the
  training set once per view (plus val and test) before training and every step reads features.

The epoch time (the fastest of ``--epochs`` epochs) includes data loading, the image tower (online only),
the synthesis of label-only features, the text tower over all classes and the optimizer step. The
cache build is reported on its own line, with the number of epochs after which it has paid for itself.
Stage 1 (the generator fit, on random features) and one untimed training step on the variant's own
first batch run before the measured epochs in both variants.

    python benchmarks/bench_feature_cache.py [--quick] [--threads N] [--views K] [--batch-size B]
"""
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

TARGET = 5.0


def run_variant(name, args, work, meter):
    from shipclip.features import CachedFeatureDataset

    cached = name == "cached"
    start = time.perf_counter()
    trainer = common.ship_coop_trainer(args, work, name, opts=[
        "FEATURES.CACHE", str(cached), "FEATURES.TRAIN_VIEWS", str(args.views)])
    construct_s = time.perf_counter() - start
    if cached and not isinstance(getattr(trainer.train_loader_x, "dataset", None), CachedFeatureDataset):
        raise RuntimeError("FEATURES.CACHE True did not give a training loader over cached features "
                           f"({type(trainer.train_loader_x.dataset).__name__}); the trainer must install "
                           "shipclip.features loaders when FEATURES.CACHE is on.")
    trainer.before_train()  # stage 1 (generator) and the engine's bookkeeping, untimed
    _warm_up(trainer)
    trainer.max_epoch = args.epochs
    wall, cpu = [], []
    with meter.phase("epoch"):
        for epoch in range(args.epochs):
            trainer.epoch = epoch
            with common.Timer() as timer:
                trainer.before_epoch()
                trainer.run_epoch()
            wall.append(timer.wall)
            cpu.append(timer.cpu)
    return {"epoch_s": min(wall), "epoch_cpu_s": min(cpu), "epochs_s": wall, "epochs_cpu_s": cpu,
            "steps": int(trainer.num_batches), "images": len(trainer.dm.dataset.train_x),
            "classes": len(trainer.get_train_classnames()), "construct_s": construct_s,
            "cache_build_s": trainer.cache_build_s, "views": args.views}


def _warm_up(trainer):
    """One untimed training step on the variant's own first batch (first-call costs of both towers)."""
    batch = next(iter(trainer.train_loader_x))
    trainer.batch_idx, trainer.num_batches = 0, 2  # not the last batch: the LR schedule is left alone
    trainer.forward_backward(batch)


VARIANTS = {"online": run_variant, "cached": run_variant}


def report(results, args):
    online, cached = results["online"], results["cached"]
    used = min(online["steps"] * args.batch_size, online["images"])
    print(f"-- {online['images']} training images ({used} used per epoch: Dassl drops an incomplete last batch), "
          f"{online['classes']} classes (base + label-only); {online['steps']} step(s) of {args.batch_size} real + "
          f"{args.batch_size} synthesized features per epoch; best of {args.epochs} epoch(s)")
    common.ratio_line("SHIP_CoOp epoch, cached vs online image features", "online", online["epoch_s"],
                      "cached", cached["epoch_s"], target=TARGET, quick=args.quick,
                      cpu=(online["epoch_cpu_s"], cached["epoch_cpu_s"]))
    build = cached["cache_build_s"]
    if build is not None:
        saved = online["epoch_s"] - cached["epoch_s"]
        pays = f"pays for itself after {build / saved:.1f} epoch(s)" if saved > 0 else "never pays for itself here"
        print(f"CACHE build ({cached['views']} training view(s) + val + test, once per dataset/seed/backbone): "
              f"{build:.2f} s; {pays}")
    for name in ("online", "cached"):
        common.memory_lines(f"SHIP_CoOp epoch, {name}", results[name])


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = common.build_parser(__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=None,
                        help="base classes, and as many label-only classes (default 10; quick 2)")
    parser.add_argument("--shots", type=int, default=None, help="training images per class (default 4; quick 2)")
    parser.add_argument("--batch-size", type=int, default=None, help="real images per step (default 32, CoOp's "
                        "recipe; quick 2)")
    parser.add_argument("--views", type=int, default=None, help="FEATURES.TRAIN_VIEWS of the cache (default 1)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="measured epochs per variant, the fastest is reported (default 2; quick 1)")
    args = common.fill_defaults(parser.parse_args(argv),
                                dict(classes=10, shots=4, batch_size=32, views=1, epochs=2),
                                dict(classes=2, shots=2, batch_size=2, views=1, epochs=1))
    for key in ("classes", "shots", "batch_size", "views", "epochs"):
        if getattr(args, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    if 2 * args.classes > len(common.CLASSNAMES):
        raise SystemExit(f"--classes must be at most {len(common.CLASSNAMES) // 2}")
    if args.child:
        return common.child_main(VARIANTS, args)
    common.print_header(
        "SHIP_CoOp training epoch: feature cache vs online image encoding", args,
        [f"backbone: {'tiny test model' if args.quick else 'ViT-B-16'} (random weights); {args.classes} base + "
         f"{args.classes} label-only classes; {args.shots} shots; batch {args.batch_size}; {args.epochs} epoch(s)"])
    with common.work_folder(args) as work:
        common.prepare_ship_data(args, work)
        results = common.run_variants(__file__, argv, args, VARIANTS, work)
        print(f"   {common.load_line('end')}")
        report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
