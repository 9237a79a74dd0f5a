"""synth: deterministic synthetic provider worlds with labelled fraud rings and benign look-alikes."""
