"""Long point tracks cut for a segment.

Track positions are absolute (pixels of each frame), so re-basing tracks to a segment's first frame s is
slicing them to frames s..e: a track's point at s is where that content is in the segment's reference image.
A track is kept when it is visible at s (a visible point is on the canvas, ``Tracks``' invariant); one that is
hidden at s, or whose content left the canvas by then, is dropped for the segment with its visibility, since the
reference image does not show what it follows. Kept tracks keep their visibility from s on.

What stage 1 then sees (``tracks.hint.sparse_hint`` on the segment's tracks): for each kept track, frame i of
the segment holds the displacement P(s + i) - P(s) in the square around P(s), the track's point in the
segment's reference image, so a drawn track steers every segment from wherever its content is when the
segment starts; frame 0 of every segment is zero.
"""

from __future__ import annotations

from ..tracks.value import Tracks
from .plan import Segment


def segment_tracks(tracks: Tracks, segment: Segment) -> Tracks | None:
    """``tracks`` over the long video (F = N frames) -> the tracks of ``segment``, [L, N', 2] with the tracks
    visible at its first frame (module doc); None when no track is."""
    if segment.end >= tracks.frames:
        raise ValueError(f"tracks: segment {segment.index} covers long frames {segment.start}..{segment.end}, but the "
                         f"tracks have {tracks.frames} frames; sample the tracks to the video's frame count")
    kept = tracks.visibility[segment.start]
    if not bool(kept.any()):
        return None
    return Tracks(tracks.path[segment.span][:, kept.to(tracks.path.device)], tracks.visibility[segment.span][:, kept],
                  tracks.width, tracks.height)
