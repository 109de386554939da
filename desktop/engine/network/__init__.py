"""The M2FP network (Mask2Former for Parsing), written for CPU inference.

Module and parameter names mirror the ModelScope reference so the hub's
``pytorch_model.pt`` loads key for key; the forward code is our own, written so that
every size is read from tensors at run time (one exported graph serves every image size).
"""

from .m2fp import M2FPNet

__all__ = ["M2FPNet"]
