"""Bottom-up multi-person pose estimation (OpenPose-style): the whole image at once.

A network predicts, for the whole image, a confidence map per joint (+ background) and a
two-channel part affinity field per limb; a greedy association assembles people from them
(docs/bottom-up.md). Public names::

    LIMBS                                    joint-index pairs of the affinity fields (COCO-17)
    encode(keypoints (N,K,2), visible (N,K), size=(h, w)) -> maps (K+1,h,w), fields (2C,h,w), mask (h,w)
    decode(maps, fields) -> keypoints (P,K,2), keypoint_scores (P,K), person_scores (P,)

All coordinates in map pixels (integer = pixel centre); numpy or torch in, numpy out.
"""
from .association import decode, find_peaks, greedy_match, limb_scores
from .limbs import LIMBS
from .targets import encode

__all__ = ["LIMBS", "decode", "encode", "find_peaks", "greedy_match", "limb_scores"]
