"""Long videos by segments: one long motion cut into passes the models can render, and joined back.

One stage-2 pass renders at most 16 frames (its attention interleaves 2F-1 tokens over 32 positions,
``models.motion_augmented.max_guided_frames``). A longer video is rendered as segments that follow each other:

- long video: frames 0..N-1; frame 0 is the image; a long motion (a field, tracks) is given from frame 0;
- segment k: the long frames ``start``..``end``; its frame 0 (its reference) is the long frame ``start``, which
  the previous segment rendered; so its motion is re-based to that frame: a field gives, for every pixel of frame
  ``start``, its displacement to each later frame of the segment; tracks keep their positions from ``start`` on;
- seam: the long frame a segment starts from; it belongs to the previous segment (the output holds it once);
- overlap O: frames after the seam that two segments both render, blended with a linear ramp (O = 0: the seam only).

Modules: ``plan`` (the segments of N frames), ``inverse`` (which frame-0 point lands on each pixel of a later frame),
``fields`` (a long field re-based to a segment, and segments composed back), ``tracks`` (long tracks cut for a
segment), ``blend`` (per-segment frames joined into N frames).
"""
