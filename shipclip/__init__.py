"""SHIP (Synthesized Prompts) for CLIP prompt learning, on Dassl.pytorch or a built-in engine."""
__version__ = "0.1.0"
