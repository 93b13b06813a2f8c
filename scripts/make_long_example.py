"""Write examples/long/six_clips.flac: the six example clips in name order, each followed by one
second of digital silence, as a long recording for `timeline` (the README's quick start uses it).

Run from the project root: python scripts/make_long_example.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
GAP_SECONDS = 1.0


def main() -> None:
    clips = sorted((ROOT / "examples").glob("*.flac"))
    parts, rate = [], None
    for clip in clips:
        samples, clip_rate = sf.read(clip, dtype="int16")
        if rate not in (None, clip_rate):
            raise SystemExit(f"{clip}: {clip_rate} Hz, the others are {rate} Hz")
        rate = clip_rate
        parts += [samples, np.zeros(int(GAP_SECONDS * clip_rate), dtype=np.int16)]
    out = ROOT / "examples" / "long" / "six_clips.flac"
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, np.concatenate(parts), rate, subtype="PCM_16")
    print(f"{len(clips)} clips -> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
