"""Text tower truncated to the longest EOT vs run at the full 77 positions, for real class-name prompts.

Two prompt kinds over ``--classes`` ImageNet class names, both built by ``ClassPrompts`` (tokenised
once) with a learnable context in the slots:

* ``"a photo of a {}."``: 4 context slots initialised from the words "a photo of a", so the prompt is
  exactly the zero-shot sentence;
* CoOp: 16 ``"X"`` context slots (random context), CoOp's default.

For each, two workloads: the forward pass under ``no_grad`` (evaluation, the zero-shot classifier) and
forward + backward into the context (the text part of a CoOp training step). Three lengths, sharing
one random ViT-B-16: full = ``TextEncoder(truncate=False)`` (77 positions); one-length =
``TextEncoder(max_groups=1)`` (every prompt cut at the longest EOT of the class set); truncated =
``TextEncoder()``, the project's default (cut at the longest EOT, in up to 4 length groups). Each variant gets an untimed 8-prompt warm-up, then ``--repeats`` interleaved rounds.
The outputs of both lengths are compared: truncation is exact up to float rounding.

    python benchmarks/bench_text_truncation.py [--quick] [--threads N] [--classes C] [--repeats R]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, workloads  # noqa: E402

TARGET = 3.0
TEMPLATES = {
    "photo": dict(label='"a photo of a {}."', n_ctx=4, placeholder="a photo of a", init="words"),
    "coop": dict(label='CoOp 16 x "X" + " {}."', n_ctx=16, placeholder=" ".join(["X"] * 16), init="random"),
}
LENGTHS = ("full", "one-length", "truncated")
WORKLOADS = ("no-grad", "fwd+bwd")
WARMUP_ROWS = 8


def context(encoder, tokenizer, spec):
    """The learnable context: the placeholder words' embeddings, or CoOp's N(0, 0.02) draw."""
    import torch

    if spec["init"] == "words":
        ctx = encoder.embed(tokenizer([spec["placeholder"]]))[0, 1:1 + spec["n_ctx"]].float()
    else:
        ctx = torch.empty(spec["n_ctx"], encoder.width).normal_(std=0.02, generator=torch.Generator().manual_seed(0))
    return torch.nn.Parameter(ctx.clone())


def workload(kind, encoder, prompts, ctx, rows=None):
    """A callable running one workload over every class (or over ``rows`` classes, for the warm-up)."""
    import torch

    def forward():
        if rows is None:
            return encoder(*prompts.assemble(ctx))
        return encoder(*prompts.assemble(ctx.unsqueeze(0).expand(len(rows), -1, -1), class_index=rows))

    def no_grad():
        with torch.no_grad():
            return forward()

    def fwd_bwd():
        ctx.grad = None
        forward().float().pow(2).sum().backward()

    return no_grad if kind == "no-grad" else fwd_bwd


def _positions(groups, lengths):
    return sum((len(lengths) if rows is None else len(rows)) * L for rows, L in groups)


def run(args, work, log):
    import torch

    from shipclip.clip.prompts import ClassPrompts
    from shipclip.clip.text import TextEncoder, length_groups

    with common.quiet(log):
        model, tokenizer, backbone = workloads.load_backbone(args, work)
    model.visual = torch.nn.Identity()  # only the text tower is measured: free the image tower's weights
    encoders = {"full": TextEncoder(model, truncate=False), "one-length": TextEncoder(model, max_groups=1),
                "truncated": TextEncoder(model)}
    names = workloads.CLASSNAMES[: args.classes]
    meter = common.Meter()
    for template, spec in TEMPLATES.items():
        prompts = {length: ClassPrompts(encoders[length], tokenizer, names, spec["n_ctx"],
                                        placeholder=spec["placeholder"]) for length in LENGTHS}
        ctx = context(encoders["full"], tokenizer, spec)
        lengths = prompts["truncated"].tokenized_prompts.argmax(dim=-1) + 1
        groups = length_groups(lengths, encoders["truncated"].max_groups)
        print(f"-- {spec['label']}: {len(names)} prompts, longest EOT + 1 = {prompts['truncated'].length} of "
              f"{prompts['full'].length} positions, mean {float(lengths.float().mean()):.1f}; length groups "
              f"{[L for _, L in groups]} run {_positions(groups, lengths)} positions in all vs "
              f"{prompts['truncated'].length * len(names)} at one length and {prompts['full'].length * len(names)} "
              "at full length")
        warm = torch.arange(min(WARMUP_ROWS, len(names)))
        for kind in WORKLOADS:
            for length in LENGTHS:
                workload(kind, encoders[length], prompts[length], ctx, rows=warm)()
            calls = {f"{template} {kind} {length}": workload(kind, encoders[length], prompts[length], ctx)
                     for length in LENGTHS}
            times = common.interleaved(calls, args.repeats, meter=meter, desc=f"{template} {kind}", log=log)
            full, one, trunc = (times[f"{template} {kind} {length}"] for length in LENGTHS)
            common.ratio_line(f"text {kind}, {spec['label']}", "full", full, "truncated", trunc, target=TARGET,
                              quick=args.quick)
            common.ratio_line(f"text {kind}, {spec['label']} (share of the length groups)", "one-length", one,
                              "truncated", trunc)
        with torch.no_grad():
            a, b, c = (encoders[length](*prompts[length].assemble(ctx)).float() for length in LENGTHS)
        print(f"CHECK {spec['label']}: max |full - truncated| = {float((a - c).abs().max()):.2e}, "
              f"max |full - one-length| = {float((a - b).abs().max()):.2e} over "
              f"{a.shape[0]} x {a.shape[1]} features (max |feature| {float(a.abs().max()):.2f})")
        for kind in WORKLOADS:
            for length in LENGTHS:
                common.memory_line(f"text {kind}, {spec['label']}, {length}",
                                   meter.memory[f"{template} {kind} {length}"])
    return backbone


def main(argv=None):
    parser = common.build_parser(__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=None, help="number of class names (default 100; quick 10)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed rounds per workload, the fastest is reported (default 3; quick 1)")
    args = common.fill_defaults(parser.parse_args(argv), dict(classes=100, repeats=3), dict(classes=10, repeats=1))
    if not 1 <= args.classes <= len(workloads.CLASSNAMES):
        raise SystemExit(f"--classes must be between 1 and {len(workloads.CLASSNAMES)}, got {args.classes}")
    common.require_positive(args, ("repeats",))
    return common.run_benchmark(
        args, "Text tower: truncated to the longest EOT vs full length 77",
        f"{args.classes} class names; "
        f"{args.repeats} round(s) after an untimed {WARMUP_ROWS}-prompt warm-up", run)


if __name__ == "__main__":
    sys.exit(main())
