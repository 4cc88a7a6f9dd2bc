"""Tiny CLIP models shared by the generator tests (text towers wide enough to separate a few classes)."""
import open_clip
import torch

TEXT = dict(context_length=77, vocab_size=49408, layers=2)


def tiny_vit():
    torch.manual_seed(0)
    return open_clip.create_model(
        "ViT-B-16", pretrained=None, embed_dim=48, quick_gelu=True,
        vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=16, head_width=16),
        text_cfg=dict(TEXT, width=64, heads=4),
    ).eval()


def tiny_rn():
    torch.manual_seed(0)
    return open_clip.create_model(
        "RN50", pretrained=None, embed_dim=40, quick_gelu=True,
        vision_cfg=dict(image_size=32, layers=[1, 1, 1, 1], width=8),
        text_cfg=dict(TEXT, width=32, heads=2),
    ).eval()
