"""Who speaks when: a recording cut into speaker turns, so a conversation's timeline can say whose
emotion each stretch is and each speaker can be normalised with their own statistics.

1. Speech: Silero's voice-activity detector (`emovox.backbones.vad.RegionRule`), which keeps
   noise and music out where the energy rule takes them for speech (benchmarks/conversations.py
   measures both).
2. Voices: CAM++ voiceprints (`emovox.backbones.voiceprint`) of 1.25 s windows every 0.5 s inside
   each stretch of speech (a shorter stretch: one window of all of it). CAM++ replaced Resemblyzer's
   d-vectors here, which the emotion features still use: on the benchmark's conversations it took
   the DER of 3-4 speakers in a noisy room from 38.1 to 27.0 % (speakers given, 1.5 s windows every
   0.75 s; results/benchmarks/conversations.md has today's figures). On the development
   conversations (`benchmarks/conversations.py --development`: other seeds than the benchmark's),
   with the speech rule of `RegionRule`, windows of 1.25 s every 0.5 s gave the lowest DER of 3-4
   speakers: 22.0 %, against 23.1 every 0.6 s, 22.9 every 0.4 s, 23.4 for 1.5 s every 0.75 s, 24.4
   for 1.5 s every 0.5 s and 23.4 for 1 s every 0.5 s (2 speakers: 6.7, 7.2, 7.1, 7.7, 7.9 and 6.9
   %). Fewer windows save less than the hop suggests: the stretches of speech in a conversation are
   short and each ends with a window of its own.
3. Speakers: a fixed number, or with `auto` counted as the average-linkage groups of the raw mean
   voiceprints of the stretches of speech further apart than `threshold` in cosine distance, each
   group holding at least `min_speaker` seconds (a cough is not a speaker); 0.6 had the lowest
   mean DER on the development conversations (19.6 % over 1, 2 and 3-4 speakers; 0.55: 19.7,
   0.65: 20.4). The windows are then grouped by spectral clustering of their voiceprints less the
   recording's mean (centred: what the recording's voices share, the room and the microphone,
   hides what tells them apart).
4. Re-reading in time order: a hidden Markov model over the windows (one state per speaker,
   emissions `sharpness` x the cosine of a window's centred voiceprint to its speaker's mean, a
   window keeping its neighbour's speaker with probability `stay` inside a stretch of speech and
   `stay_across` over a pause), the speaker means re-estimated from its posteriors a few times: a
   window that sounds a little like another voice in the middle of one speaker's turn keeps that
   speaker (on the benchmark's development conversations, 2 speakers, with d-vectors: DER 11.9 ->
   10.3 %; with voiceprints the DER hardly moves with `sharpness` 5-40 and `stay` 0.5-0.9).
5. Turns: each 10 ms of speech takes the speaker of the window centred nearest to it; runs
   shorter than `min_turn` join their neighbour.

Memory stays bounded on hours of audio: at most `MAX_CLUSTERED` windows (evenly spaced) are
clustered, the rest assigned to the nearest centroid; voiceprints are computed a batch at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emovox.backbones.vad import RegionRule, speech_detector
from emovox.backbones.voiceprint import voiceprint_encoder
from emovox.errors import ConfigError
from emovox.inference.segments import windows

MAX_SPEAKERS = 20
MAX_CLUSTERED = 2000  # windows clustered together (2000 x 2000 distances); the rest assigned
STEP = 0.01  # seconds per decision when turns are drawn


def parse_speakers(value: str | int | None) -> int | None:
    """`auto` (or None): the number is found; else a whole number of speakers, 1 to MAX_SPEAKERS."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    refusal = ConfigError(f'speakers must be "auto" or a number from 1 to {MAX_SPEAKERS}, got {value!r:.40}')
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise refusal from None
    if isinstance(value, float | bool) or not 1 <= count <= MAX_SPEAKERS:
        raise refusal
    return count


def check_speakers_option(speakers: str | None, timeline: bool) -> None:
    """A command's `--speakers`, refused before any work: it needs `--timeline`, and a sane count."""
    if speakers is None:
        return
    if not timeline:
        raise ConfigError("--speakers is for --timeline: speakers are found within a recording")
    parse_speakers(speakers)


@dataclass(frozen=True)
class DiarisationConfig:
    """How turns are found (see the module). `speakers`: a fixed number, or None for `auto`."""

    speakers: int | None = None
    window: float = 1.25
    hop: float = 0.5
    threshold: float = 0.6
    min_speaker: float = 4.0
    min_turn: float = 0.5
    sharpness: float = 10.0
    stay: float = 0.7
    stay_across: float = 0.3
    speech: RegionRule = field(default_factory=RegionRule)

    def __post_init__(self) -> None:
        if self.speakers is not None:
            object.__setattr__(self, "speakers", parse_speakers(self.speakers))
        if not 0.2 <= self.window <= 10 or not 0 < self.hop <= self.window:
            raise ConfigError("window must be 0.2-10 s and hop within (0, window]")
        if not 0 < self.threshold < 2 or self.min_speaker < 0 or self.min_turn < 0:
            raise ConfigError("threshold must be in (0, 2) and min_speaker, min_turn >= 0")
        if self.sharpness <= 0 or not 0 < self.stay < 1 or not 0 < self.stay_across < 1:
            raise ConfigError("sharpness must be > 0 and stay, stay_across within (0, 1)")


@dataclass(frozen=True)
class Turn:
    """A stretch of speech by one speaker (`S1`, `S2`, ... in order of first appearance)."""

    start: float
    end: float
    speaker: str


def windows_in(regions: list[tuple[float, float]], window: float, hop: float) -> list[tuple[float, float]]:
    """Windows of `window` every `hop` inside each region, the last ending at the region's end;
    a region shorter than a window is one window. (Spreading them evenly, or joining a last
    window to a nearly identical one before it, saves a sixth or a tenth of the windows but lost
    1.3 and 1.0 points of DER on the development conversations of 3-4 speakers, windows every
    0.75 s.)"""
    return [span for start, end in regions for span in windows(start, end, window, hop)]


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def centred(vectors: np.ndarray) -> np.ndarray:
    """The recording's mean voice taken out: what all its windows share (room, microphone, the
    corpus's style) no longer pulls them together, so what tells speakers apart stands out."""
    return unit(vectors - vectors.mean(axis=0))


def centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(groups, dim) unit mean vector of each label 0..groups-1."""
    sums = np.zeros((labels.max() + 1, vectors.shape[1]))
    np.add.at(sums, labels, vectors)
    return unit(sums)


def nearest(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.argmax(vectors @ centres.T, axis=1)


def fold_small(vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray, min_weight: float) -> np.ndarray:
    """Groups whose windows stand for less than `min_weight` seconds joined to their nearest group."""
    centres = centroids(vectors, labels)
    assigned = labels
    while len(centres) > 1:
        totals = np.bincount(assigned, weights=weights, minlength=len(centres))
        smallest = int(np.argmin(totals))
        if totals[smallest] >= min_weight:
            break
        centres = np.delete(centres, smallest, axis=0)
        assigned = nearest(vectors, centres)
    return np.unique(assigned, return_inverse=True)[1]


def speaker_count(vectors: np.ndarray, threshold: float, weights: np.ndarray, min_weight: float) -> int:
    """How many speakers: average-linkage groups of the (uncentred) voiceprints of the stretches of
    speech no closer than `threshold` in cosine distance, each standing for at least `min_weight`
    seconds. Stretches, not windows: a stretch's mean voiceprint varies less with what is said and
    how (with d-vectors, windows counted 2-speaker conversations right 39 % of the time on the
    benchmark, the stretches 57 %). Uncentred, because distances between raw voiceprints mean the
    same in every recording: one voice alone stays one group, where centring would blow its small
    differences up."""
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(tree, t=threshold, criterion="distance") - 1
    if labels.max() >= MAX_SPEAKERS:
        labels = fcluster(tree, t=MAX_SPEAKERS, criterion="maxclust") - 1
    return int(fold_small(vectors, labels, weights, min_weight).max()) + 1


def spectral_groups(vectors: np.ndarray, count: int) -> np.ndarray:
    """`count` groups by spectral clustering of the cosine similarities, each window keeping only
    its closest half of the others (a pruned affinity, as in spectral diarisation systems): the
    groups follow the chains of similar windows, which averaging alone would cut across."""
    from sklearn.cluster import SpectralClustering

    similarity = vectors @ vectors.T
    keep = max(2, len(vectors) // 2)
    kth = np.partition(similarity, -keep, axis=1)[:, -keep][:, None]
    affinity = np.maximum(np.where(similarity >= kth, similarity, 0.0), 0.0)
    affinity = (affinity + affinity.T) / 2
    with warnings.catch_warnings():  # a graph in pieces is what well-separated voices give
        warnings.filterwarnings("ignore", "Graph is not fully connected")
        labels = SpectralClustering(count, affinity="precomputed", random_state=0).fit_predict(affinity)
    return np.unique(labels, return_inverse=True)[1]


def cluster(vectors: np.ndarray, speakers: int | None, threshold: float, regions: np.ndarray,
            seconds: np.ndarray, min_speaker: float) -> np.ndarray:  # fmt: skip
    """A group index (0..) for each unit voiceprint: the number of groups given or counted
    (`speaker_count` of the stretches of speech, `regions` holding each window's stretch and
    `seconds` each stretch's length), the windows grouped by `spectral_groups` of their centred
    vectors; at most `MAX_CLUSTERED` windows and stretches (evenly spaced) take part, the rest
    join their nearest centroid."""
    count = len(vectors)
    if speakers is None:
        stretches = centroids(vectors, regions)
        chosen = np.linspace(0, len(stretches) - 1, min(len(stretches), MAX_CLUSTERED)).round().astype(int)
        share = len(chosen) / len(stretches)
        speakers = 1 if len(chosen) < 2 else speaker_count(stretches[chosen], threshold, seconds[chosen],
                                                          min_speaker * share)  # fmt: skip
    chosen = np.linspace(0, count - 1, min(count, MAX_CLUSTERED)).round().astype(int)
    speakers = min(speakers, len(chosen))
    if speakers <= 1:
        return np.zeros(count, int)
    relative = centred(vectors)
    labels = spectral_groups(relative[chosen], speakers)
    if len(chosen) < count:
        labels = nearest(relative, centroids(relative[chosen], labels))
    return np.unique(labels, return_inverse=True)[1]


def posteriors(scores: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """(windows, speakers) posteriors of a hidden Markov model with log emissions `scores`, a uniform
    start and, from window t-1 to t, probability `stay[t]` of keeping the speaker (the rest spread
    evenly over the others): forward-backward, each step rescaled to sum 1. That transition maps
    a vector a to (stay - leave) * a + leave * sum(a), so a step costs O(speakers)."""
    count, speakers = scores.shape
    emission = np.exp(scores - scores.max(axis=1, keepdims=True))
    leave = (1 - stay) / (speakers - 1)
    keep = stay - leave
    forward, backward = np.empty_like(emission), np.ones_like(emission)
    ahead = emission[0] / emission[0].sum()
    forward[0] = ahead
    for t in range(1, count):
        ahead = emission[t] * (keep[t] * ahead + leave[t])  # `ahead` sums to 1
        ahead /= ahead.sum()
        forward[t] = ahead
    behind = backward[-1]
    for t in range(count - 2, -1, -1):
        weighted = emission[t + 1] * behind
        behind = keep[t + 1] * weighted + leave[t + 1] * weighted.sum()
        behind /= behind.sum()
        backward[t] = behind
    joint = forward * backward
    return joint / joint.sum(axis=1, keepdims=True)


def reread(vectors: np.ndarray, labels: np.ndarray, stretch: np.ndarray, config: DiarisationConfig,
           rounds: int = 10) -> np.ndarray:  # fmt: skip
    """The windows' groups re-read in time order by the hidden Markov model of step 4 (see the
    module), starting from `labels`; `stretch`: each window's stretch of speech, in time order."""
    speakers = int(labels.max()) + 1
    if speakers < 2:
        return labels
    relative = centred(vectors)
    stay = np.where(np.r_[False, stretch[1:] == stretch[:-1]], config.stay, config.stay_across)
    weights = np.eye(speakers)[labels]
    for _ in range(rounds):
        weights = posteriors(config.sharpness * relative @ unit(weights.T @ relative).T, stay)
    return np.unique(weights.argmax(axis=1), return_inverse=True)[1]


def joined(runs: list[list[int]]) -> list[list[int]]:
    """[first, last, group] runs with neighbours of one group made one."""
    out: list[list[int]] = []
    for run in runs:
        if out and out[-1][2] == run[2]:
            out[-1][1] = run[1]
        else:
            out.append(list(run))
    return out


def draw_turns(regions: list[tuple[float, float]], spans: list[tuple[float, float]], labels: np.ndarray,
               min_turn: float) -> list[tuple[float, float, int]]:  # fmt: skip
    """(start, end, group) runs of one group inside the regions, each 10 ms taking the group of
    the window centred nearest to it (windows of its own region); short runs join a neighbour."""
    centres = np.array([(a + b) / 2 for a, b in spans])
    turns: list[tuple[float, float, int]] = []
    for start, end in regions:
        inside = np.flatnonzero((centres >= start) & (centres <= end))
        if len(inside) == 0:
            continue
        times = np.arange(start, end, STEP) + STEP / 2
        owner = labels[inside[np.argmin(np.abs(times[:, None] - centres[inside][None]), axis=1)]]
        edges = np.flatnonzero(np.diff(owner)) + 1
        runs = [[a, b, int(owner[a])] for a, b in zip(np.r_[0, edges], np.r_[edges, len(owner)], strict=True)]
        while len(runs) > 1:  # the shortest run under min_turn takes its longer neighbour's group
            lengths = [b - a for a, b, _ in runs]
            shortest = int(np.argmin(lengths))
            if lengths[shortest] * STEP >= min_turn:
                break
            sides = [i for i in (shortest - 1, shortest + 1) if 0 <= i < len(runs)]
            runs[shortest][2] = runs[max(sides, key=lambda i: lengths[i])][2]
            runs = joined(runs)
        for a, b, group in runs:
            turns.append((start + a * STEP, min(end, start + b * STEP), group))
    return turns


@dataclass(frozen=True)
class Voices:
    """What speaker turns are drawn from, computed once per recording: the stretches of speech,
    the windows inside them (made with `window` and `hop`) and each window's voiceprint;
    `turns_of` groups them under any settings that keep the windows."""

    regions: list[tuple[float, float]]
    spans: list[tuple[float, float]]
    vectors: np.ndarray
    window: float
    hop: float


def voices(
    signal: np.ndarray,
    sample_rate: int,
    config: DiarisationConfig | None = None,
    regions: Callable[[np.ndarray], list[tuple[float, float]]] | None = None,
    progress: bool = False,
) -> Voices:
    """Steps 1 and 2 (see the module) on a 16 kHz recording. `regions`: another speech finder
    (signal -> (start, end) seconds), for comparing them; by default the voice-activity detector.
    `progress`: a bar over the windows (the costly part: 1-2 s per minute of conversation on one
    core)."""
    config = config or DiarisationConfig()
    if sample_rate != 16_000:
        raise ConfigError(f"speaker turns are found at 16 kHz, got {sample_rate} Hz")
    if regions is None:
        found = config.speech.regions(speech_detector().probabilities(signal), len(signal) / sample_rate)
    else:
        found = regions(signal)
    spans = windows_in(found, config.window, config.hop)
    vectors = (
        voiceprint_encoder().embeddings(signal, spans, progress) if spans else np.zeros((0, 0), np.float32)
    )
    return Voices(found, spans, vectors, config.window, config.hop)


def turns_of(found: Voices, config: DiarisationConfig) -> list[Turn]:
    """Steps 3 to 5 (see the module): the speaker turns, in time order."""
    if (found.window, found.hop) != (config.window, config.hop):
        raise ConfigError(
            f"these voices were read in {found.window} s windows every {found.hop} s, "
            f"not {config.window} s every {config.hop} s"
        )
    if not found.spans:
        return []
    starts = np.array([start for start, _ in found.regions])
    stretch = np.searchsorted(starts, [start + 1e-6 for start, _ in found.spans]) - 1  # each window's stretch
    present, stretch = np.unique(stretch, return_inverse=True)
    seconds = np.array([found.regions[i][1] - found.regions[i][0] for i in present])
    labels = cluster(found.vectors, config.speakers, config.threshold, stretch, seconds, config.min_speaker)
    labels = reread(found.vectors, labels, stretch, config)
    turns = draw_turns(found.regions, found.spans, labels, config.min_turn)
    order = {group: f"S{i + 1}" for i, group in enumerate(dict.fromkeys(g for _, _, g in turns))}
    return [Turn(round(float(a), 3), round(float(b), 3), order[g]) for a, b, g in turns]


def diarise(
    signal: np.ndarray,
    sample_rate: int,
    config: DiarisationConfig | None = None,
    regions: Callable[[np.ndarray], list[tuple[float, float]]] | None = None,
    progress: bool = False,
) -> list[Turn]:
    """The speaker turns of a 16 kHz recording, in time order (`voices`, then `turns_of`)."""
    config = config or DiarisationConfig()
    return turns_of(voices(signal, sample_rate, config, regions, progress), config)
