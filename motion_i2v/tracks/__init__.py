"""Point tracks and the motion brush: parsed, sampled, drawn and turned into motion hints."""
