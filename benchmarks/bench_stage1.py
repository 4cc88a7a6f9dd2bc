"""SHIP stage 1 from cached augmented views vs the released way (a fresh augmentation encoded at every step).

One generator of the released size (encoder 2048, latent 512, bias MLP 4096, 4 context vectors) over
``--classes`` base classes, on a random ViT-B-16, fitted on ``--batch-size`` images per step. Per step:

* ``released``: what the released ``main_coop_vae.py`` does at every step (reimplemented here): encode
  the batch's freshly augmented images through the frozen image tower, re-tokenise and embed the prompts
  of every base class, decode through the text tower at the full 77 positions, backward, AdamW step;
* ``ours``: :func:`shipclip.ship.fit_generator` on the cached views (``GEN_VIEWS`` = ``--views``
  augmented views per image, one drawn at random per image per step; ``TRAINER.SHIP.GEN_VIEWS`` with or
  without ``FEATURES.CACHE``): prompts tokenised once, text tower truncated to the longest EOT;
* ``encode``: the image tower on the batch alone -- the per-image cost of building the views once.

The three run in interleaved rounds on the same batch size (data loading is left out of all of them,
which favours ``released``); the fastest round of each is reported after one warm-up round. The
measured ratio is per step with the views already cached (the feature cache keeps them across the
runs of a seed: stage 2 with ``FEATURES.TRAIN_VIEWS`` equal to ``GEN_VIEWS``, the ablations, resumed
runs). ``ESTIMATE`` lines scale the measured per-image times to a whole stage 1 of ``--epochs``
epochs over ``--classes x --shots`` images, with and without the one-off encoding of ``--views``
views. A ``CHECK`` line compares the released-style loss with the generator's own on the same
features and noise.

    python benchmarks/bench_stage1.py [--quick] [--threads N] [--classes C] [--shots K] [--batch-size B]
                                      [--views V] [--epochs E] [--rounds R]
"""
import math
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, workloads  # noqa: E402

TARGET = 20.0
VARIANTS = ("released", "ours", "encode")
FULL_GENERATOR = dict(enc_hidden=2048, latent_dim=512, gen_hidden=4096)
QUICK_GENERATOR = dict(enc_hidden=32, latent_dim=8, gen_hidden=32)


class ReleasedStage1Step:
    """One released stage-1 step on ``generator``'s weights: encode, re-tokenise, full-length decode, AdamW."""

    def __init__(self, model, tokenizer, generator, classnames):
        import torch

        from shipclip.clip.text import TextEncoder

        self.model, self.tokenizer, self.generator = model, tokenizer, generator
        self.text_full = TextEncoder(model, truncate=False)  # the full 77 positions
        self.classnames = list(classnames)
        self.placeholder = " ".join(["X"] * generator.n_ctx)
        self.optimizer = torch.optim.AdamW(generator.trainable_parameters(), lr=1e-3)

    def loss(self, x, labels, eps):
        """The released VAE loss of normalised features ``x`` with reparameterisation noise ``eps``."""
        import torch
        import torch.nn.functional as F

        gen = self.generator
        mu, logvar = gen.encoder(x)
        r = gen.bias_mlp(mu + torch.exp(0.5 * logvar) * eps)
        tokens = self.tokenizer([f"{self.placeholder} {name}." for name in self.classnames])  # every step
        with torch.no_grad():
            embedded = self.text_full.token_embedding(tokens)
        prefix, suffix = embedded[labels, :1], embedded[labels, 1 + gen.n_ctx:]
        prompts = torch.cat([prefix, gen.ctx.unsqueeze(0) + r.unsqueeze(1), suffix], dim=1)
        x_hat = F.normalize(self.text_full(prompts, tokens[labels]).float(), dim=-1)
        recon = (x_hat - x).pow(2).sum(dim=1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()
        return recon + kl

    def __call__(self, images, labels, eps):
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            x = F.normalize(self.model.encode_image(images).float(), dim=-1)
        loss = self.loss(x, labels, eps)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def run(args, work, log):
    import torch
    import torch.nn.functional as F

    from shipclip.ship import SHIPGenerator, fit_generator

    model, tokenizer, _ = workloads.load_backbone(args, work)
    model.requires_grad_(False)
    size = int(model.visual.image_size[0] if isinstance(model.visual.image_size, (tuple, list))
               else model.visual.image_size)
    names = workloads.CLASSNAMES[: args.classes]
    sizes = QUICK_GENERATOR if args.quick else FULL_GENERATOR
    generators = {}
    for name in ("released", "ours"):  # identical initial weights
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            generators[name] = SHIPGenerator(model, tokenizer, names, n_ctx=4, **sizes)
    released = ReleasedStage1Step(model, tokenizer, generators["released"], names)
    g = torch.Generator().manual_seed(0)
    b, dim = args.batch_size, generators["ours"].embed_dim
    images = torch.randn(b, 3, size, size, generator=g)  # an augmented batch (content does not change timing)
    labels = torch.arange(b) % args.classes
    views = F.normalize(torch.randn(args.views, b, dim, generator=g), dim=-1)  # the cached views of these images
    eps = torch.randn(b, sizes["latent_dim"], generator=g)

    with torch.no_grad():  # CHECK: the released-style loss and the generator's own, same features and noise
        x = F.normalize(model.encode_image(images).float(), dim=-1)
        ours_loss = float(generators["ours"](x, labels, rng=torch.Generator().manual_seed(7))["loss"])
        eps_check = torch.randn(b, sizes["latent_dim"], generator=torch.Generator().manual_seed(7))
        released_loss = float(released.loss(x, labels, eps_check))

    calls = {
        "released": lambda: released(images, labels, eps),
        "ours": lambda: fit_generator(generators["ours"], views, labels, epochs=1, batch_size=b, seed=1,
                                      progress=False, log=None),
        "encode": lambda: _encode(model, images),
    }
    print(f"-- {args.classes} base classes; per step {b} images; ours draws from {args.views} cached views per "
          f"image; {args.rounds} timed round(s) after 1 warm-up round")
    meter = common.Meter()
    times = common.interleaved(calls, args.rounds + 1, meter=meter, skip=1, desc="stage-1 steps", log=log)
    common.ratio_line("SHIP stage-1 step, cached views vs the released per-step work", "released", times["released"],
                      "ours", times["ours"], target=TARGET, quick=args.quick)
    print(f"CHECK same loss: released-style {released_loss:.6f}, generator {ours_loss:.6f}, "
          f"|difference| = {abs(released_loss - ours_loss):.2e}")
    _estimates(args, times)
    for name in VARIANTS:
        common.memory_line(f"SHIP stage-1 step, {name}", meter.memory[name])


def _encode(model, images):
    import torch

    with torch.no_grad():
        return model.encode_image(images)


def _duration(seconds):
    return f"{seconds:.1f} s" if seconds < 120 else (f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h")


def _estimates(args, times):
    """A whole stage 1 from the measured per-image times: E epochs over N images, V views encoded once."""
    n = args.classes * args.shots
    per_image = {name: times[name]["best_s"] / args.batch_size for name in VARIANTS}
    released = args.epochs * n * per_image["released"]
    cached = args.epochs * n * per_image["ours"]
    build = args.views * n * per_image["encode"]
    print(f"ESTIMATE stage 1 of {args.epochs} epochs over {n} images ({args.classes} classes x {args.shots} shots, "
          f"{math.ceil(n / 256)} steps of 256 per epoch), from the per-image times above: released "
          f"{_duration(released)}; ours from cached views {_duration(cached)} ({released / cached:.1f}x); "
          f"ours including the one-off encoding of {args.views} views {_duration(cached + build)} "
          f"({released / (cached + build):.1f}x)")


def main(argv=None):
    parser = common.build_parser(__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=None, help="base classes (default 100; quick 4)")
    parser.add_argument("--shots", type=int, default=None, help="images per class, for the estimate (default 16)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per timed step (default 32; the released batch is 256; quick 4)")
    parser.add_argument("--views", type=int, default=None,
                        help="cached views per image (default 50 = vit_b16_released's GEN_VIEWS; quick 2)")
    parser.add_argument("--epochs", type=int, default=None, help="generator epochs, for the estimate (default 50)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds after the warm-up (default 2; quick 1)")
    args = common.fill_defaults(parser.parse_args(argv),
                                dict(classes=100, shots=16, batch_size=32, views=50, epochs=50, rounds=2),
                                dict(classes=4, shots=2, batch_size=4, views=2, epochs=2, rounds=1))
    common.require_positive(args, ("classes", "shots", "batch_size", "views", "epochs", "rounds"))
    if args.classes > len(workloads.CLASSNAMES):
        raise SystemExit(f"--classes must be at most {len(workloads.CLASSNAMES)}, got {args.classes}")
    return common.run_benchmark(
        args, "SHIP stage 1: cached views vs the released per-step re-encoding",
        f"generator {'tiny' if args.quick else 'of the released size (2048 / 512 / 4096)'}; {args.classes} base classes; "
        f"batch {args.batch_size}; {args.views} views", run)


if __name__ == "__main__":
    sys.exit(main())
