"""The frozen CLIP that decodes SHIP's prompts when the model is a lab's own (``SHIP+<Name>``).

A CoOp-style model keeps CLIP's image encoder and text transformer but not its token embedding,
which the generator's prompts need. So the generator's CLIP is loaded again from the weights file
the lab's model was built from: ``MODEL.BACKBONE.NAME`` / ``PRETRAINED`` (by default OpenAI's file
in ``~/.cache/clip``, the one CoOp's ``clip._download`` returns). When that file holds another
architecture than the name says, it is built from the file's own sizes, as CoOp's ``build_model``
does. Either way it must reproduce the lab's ``model.image_encoder`` on a probe batch, else SHIP
refuses to run (the synthesized features would live in another feature space).
"""
import os

import torch
import torch.nn.functional as F

__all__ = ["load_lab_clip", "check_same_image_encoder", "MIN_PROBE_COSINE"]

MIN_PROBE_COSINE = 0.99  # fp16 encoders agree with fp32 ones to about 1e-3


def _weights_file(cfg):
    from shipclip.clip.loader import locate_pretrained

    pretrained = cfg.MODEL.BACKBONE.PRETRAINED
    pretrained = "openai" if pretrained is True else str(pretrained)
    if os.path.isfile(os.path.expanduser(pretrained)):
        return os.path.abspath(os.path.expanduser(pretrained))
    path, _ = locate_pretrained(cfg.MODEL.BACKBONE.NAME, pretrained, getattr(cfg.MODEL.BACKBONE, "CACHE_DIR", "") or None)
    return path


def load_lab_clip(cfg, device):
    """The frozen CLIP of ``cfg``'s backbone, in ``TRAINER.SHIP.PREC`` on ``device``."""
    from shipclip.clip.loader import load_clip_from_cfg
    from shipclip.clip.precision import clip_precision_for

    precision = clip_precision_for(cfg.TRAINER.SHIP.PREC, device)
    try:
        return load_clip_from_cfg(cfg, device=device, precision=precision)
    except ValueError as exc:
        if "wrong architecture" not in str(exc):
            raise
        path = _weights_file(cfg)
        if path is None:
            raise
        return _build_from_file(path, device, precision, cfg.MODEL.BACKBONE.NAME)


def _build_from_file(path, device, precision, name):
    from open_clip.model import build_model_from_openai_state_dict

    from shipclip.clip.loader import describe_state_dict, read_clip_state_dict

    sd, _ = read_clip_state_dict(path)
    print(f"SHIP: {path} holds {describe_state_dict(sd)}, not {name}; built from the file's own sizes, as CoOp's "
          "build_model does")
    model = build_model_from_openai_state_dict(dict(sd), quick_gelu=True)
    model = model.float() if precision == "fp32" else model
    model.requires_grad_(False)
    model.eval().to(device)
    model.clip_load_info = dict(name=str(name), open_clip_name="openai-layout file", weights=path, quick_gelu=True,
                                precision=precision, quick_gelu_reason="OpenAI checkpoint layout")
    return model


@torch.no_grad()
def check_same_image_encoder(trainer_name, encode, dtype, clip_model, probe):
    """Refuse when ``clip_model.visual`` does not reproduce the lab's encoder ``encode`` on ``probe``."""
    from shipclip.ship.lab_contract import ShipContractError

    lab = encode(probe.type(dtype)).float()
    visual = clip_model.visual
    own_dtype = next(visual.parameters()).dtype
    ours = visual(probe.to(own_dtype)).float()
    weights = getattr(clip_model, "clip_load_info", {}).get("weights", "?")
    if lab.shape != ours.shape:
        cosine = float("nan")
    else:
        cosine = float(F.cosine_similarity(lab, ours, dim=-1).min())
    if not cosine >= MIN_PROBE_COSINE:
        raise ShipContractError(
            f"SHIP cannot run on trainer {trainer_name}: the CLIP loaded for the generator (weights {weights}) does not "
            f"reproduce your model.image_encoder (features {list(ours.shape)} vs {list(lab.shape)}, lowest cosine "
            f"{cosine:.4f} on a probe batch; needs >= {MIN_PROBE_COSINE}). Set MODEL.BACKBONE.NAME and "
            "MODEL.BACKBONE.PRETRAINED to the backbone and weights file your trainer loads (clause 5 of the contract, "
            "docs/DASSL.md)."
        )
    print(f"SHIP stage 1: the generator decodes with the CLIP of {weights} (same image features as your "
          f"model.image_encoder: cosine {cosine:.4f})")
