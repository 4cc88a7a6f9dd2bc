"""Where a backbone's weights are, and whether they may be downloaded.

A pretrained tag is looked up on this machine only: OpenAI's own file where CoOp keeps it
(``~/.cache/clip``), then open_clip's downloads (Hugging Face cache, URL folder). Offline,
open_clip would let huggingface_hub retry for about a minute; here a missing file fails at once,
naming the file to provide and where, unless ``SHIPCLIP_ALLOW_DOWNLOAD=1`` lets open_clip download.
"""
import os

from .names import base_name, normalize_model_name, open_clip_lib

__all__ = ["OPENAI_FILES", "NO_WEIGHTS", "WEIGHT_SUFFIXES", "ALLOW_DOWNLOAD_ENV", "looks_like_path", "tag_cfg",
           "locate_pretrained", "resolve_source"]

# File names of OpenAI's released JIT archives (what ``clip.load`` keeps in ~/.cache/clip).
OPENAI_FILES = {
    "RN50": "RN50.pt", "RN101": "RN101.pt", "RN50x4": "RN50x4.pt", "RN50x16": "RN50x16.pt",
    "RN50x64": "RN50x64.pt", "ViT-B-32": "ViT-B-32.pt", "ViT-B-16": "ViT-B-16.pt",
    "ViT-L-14": "ViT-L-14.pt", "ViT-L-14-336": "ViT-L-14-336px.pt",
}
NO_WEIGHTS = ("", "none", "random", "false")
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
ALLOW_DOWNLOAD_ENV = "SHIPCLIP_ALLOW_DOWNLOAD"
_HF_WEIGHTS = "open_clip_pytorch_model.bin"
_HF_SAFE_WEIGHTS = "open_clip_model.safetensors"


def looks_like_path(value):
    return (
        os.sep in value or "/" in value or "\\" in value or value.startswith(("~", "."))
        or value.lower().endswith(WEIGHT_SUFFIXES) or os.path.exists(value)
    )


def _clip_dirs(cache_dir):
    dirs = [cache_dir] if cache_dir else []
    dirs.append(os.path.expanduser(os.path.join("~", ".cache", "clip")))
    return list(dict.fromkeys(dirs))


def _hf_hub_cache(cache_dir):
    if cache_dir:
        return cache_dir
    try:
        from huggingface_hub import constants

        return constants.HF_HUB_CACHE
    except ImportError:
        return os.path.expanduser(os.path.join("~", ".cache", "huggingface", "hub"))


def _hf_candidates(hf_hub):
    repo, filename = os.path.split(hf_hub)
    filename = filename or _HF_WEIGHTS
    names = []
    if filename == _HF_WEIGHTS:
        names.append(_HF_SAFE_WEIGHTS)
    elif filename.endswith((".bin", ".pth")):
        names.append(filename[:-4] + ".safetensors")
    return repo, names + [filename]


def locate_pretrained(name, tag, cache_dir=None):
    """Find a pretrained tag's weights on this machine without touching the network.

    Looks, in order, for OpenAI's own file (tag ``openai``) in ``cache_dir`` and ``~/.cache/clip``,
    then for open_clip's download in the Hugging Face cache and the URL download folder.
    Returns ``(path or None, searched)`` where ``searched`` lists the places looked at.
    """
    return _locate(name, normalize_model_name(name), tag, cache_dir)


def _locate(name, resolved, tag, cache_dir):
    open_clip = open_clip_lib()
    cfg = tag_cfg(resolved, tag)
    if not cfg:
        tags = (open_clip.list_pretrained_tags_by_model(resolved)
                or open_clip.list_pretrained_tags_by_model(base_name(resolved)))
        raise ValueError(
            f"Unknown pretrained tag {tag!r} for backbone {name} (open_clip {resolved}). Known tags: "
            f"{', '.join(tags) if tags else '(open_clip lists none for this backbone)'}. "
            "MODEL.BACKBONE.PRETRAINED may also be a path to a weights file, or 'none' for random weights."
        )
    searched = []
    candidates = []
    if tag == "openai" and base_name(resolved) in OPENAI_FILES:
        candidates += [os.path.join(d, OPENAI_FILES[base_name(resolved)]) for d in _clip_dirs(cache_dir)]
    if cfg.get("file"):
        candidates.append(cfg["file"])
    for path in candidates:
        if os.path.isfile(path):
            return path, searched
        searched.append(path)
    if cfg.get("hf_hub"):
        repo, filenames = _hf_candidates(cfg["hf_hub"])
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        for filename in filenames:
            hit = try_to_load_from_cache(repo, filename, cache_dir=cache_dir) if try_to_load_from_cache else None
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit, searched
        searched.append(f"Hugging Face cache {_hf_hub_cache(cache_dir)}: {repo} ({' or '.join(filenames)})")
    if cfg.get("url"):
        path = os.path.join(cache_dir or os.path.expanduser(os.path.join("~", ".cache", "clip")),
                            os.path.basename(cfg["url"]))
        if os.path.isfile(path):
            return path, searched
        if path not in searched:
            searched.append(path)
    return None, searched


def _missing_weights_error(name, resolved, tag, cache_dir, searched):
    base = base_name(resolved)
    if tag == "openai" and base in OPENAI_FILES:
        fname = OPENAI_FILES[base]
        provide = (
            f"put OpenAI's {fname} in {_clip_dirs(cache_dir)[0]}/ (the folder CoOp and OpenAI's clip use), "
            f"or set MODEL.BACKBONE.PRETRAINED /path/to/{fname}"
        )
    else:
        cfg = tag_cfg(resolved, tag)
        if cfg.get("hf_hub"):
            repo, filenames = _hf_candidates(cfg["hf_hub"])
            provide = (
                f"download {filenames[-1]} of the Hugging Face repo {repo} into the Hugging Face cache "
                f"({_hf_hub_cache(cache_dir)}) on a machine with network access, or set "
                f"MODEL.BACKBONE.PRETRAINED /path/to/{filenames[-1]}"
            )
        else:
            provide = f"set MODEL.BACKBONE.PRETRAINED /path/to/{os.path.basename(cfg.get('url', 'weights.pt'))}"
    return FileNotFoundError(
        f"No local copy of the {tag!r} weights for backbone {name} (open_clip {resolved}), and downloads are "
        f"off. To provide them: {provide}. Looked in: {'; '.join(searched)}. To let open_clip download "
        f"them instead, set {ALLOW_DOWNLOAD_ENV}=1."
    )


def _download_allowed(allow_download):
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def tag_cfg(resolved, tag):
    open_clip = open_clip_lib()
    return open_clip.get_pretrained_cfg(resolved, tag) or open_clip.get_pretrained_cfg(base_name(resolved), tag)


def resolve_source(name, resolved, pretrained, cache_dir, allow_download):
    """-> dict(kind=random|file, path, tag, what) without any network access unless allowed."""
    if pretrained is None or pretrained is False:
        pretrained = "none"
    if pretrained is True:  # Dassl's default value of MODEL.BACKBONE.PRETRAINED
        pretrained = "openai"
    value = str(pretrained).strip()
    if value.lower() in NO_WEIGHTS:
        return dict(kind="random", path=None, tag=None, what="random init (pretrained=none)")
    if looks_like_path(value):
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"CLIP weights file not found: {path} (MODEL.BACKBONE.PRETRAINED={value!r}). Check the path, "
                "or use an open_clip pretrained tag such as 'openai', or 'none' for random weights."
            )
        return dict(kind="file", path=path, tag=None, what=path)
    path, searched = _locate(name, resolved, value, cache_dir)
    if path is None:
        if not _download_allowed(allow_download):
            raise _missing_weights_error(name, resolved, value, cache_dir, searched)
        path = open_clip_lib().pretrained.download_pretrained(tag_cfg(resolved, value), cache_dir=cache_dir)
    return dict(kind="file", path=path, tag=value, what=f"{value} ({path})")
