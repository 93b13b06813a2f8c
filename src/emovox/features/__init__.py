"""Features: one extractor interface; frame MFCCs, utterance sets, openSMILE sets; extraction."""

from emovox.features.base import FeatureExtractor, Level
from emovox.features.cache import FeatureCache, default_cache_dir
from emovox.features.enhanced import Enhanced392
from emovox.features.extract import FeatureTable, extract
from emovox.features.mfcc import FrameLogMel, FrameMfcc, MfccConfig, StreamingMfcc
from emovox.features.opensmile_sets import ComParE, EGeMAPS
from emovox.features.registry import FeatureSet, get_extractor
from emovox.features.utterance import Utterance110, UtteranceConfig

__all__ = [
    "ComParE",
    "EGeMAPS",
    "Enhanced392",
    "FeatureCache",
    "FeatureExtractor",
    "FeatureSet",
    "FeatureTable",
    "FrameLogMel",
    "FrameMfcc",
    "Level",
    "MfccConfig",
    "StreamingMfcc",
    "Utterance110",
    "UtteranceConfig",
    "default_cache_dir",
    "extract",
    "get_extractor",
]
