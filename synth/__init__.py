"""synth: deterministic synthetic provider worlds with labelled fraud rings and benign look-alikes."""

#: Version of the generator recorded in every manifest; bump when output for a given config changes.
GENERATOR_VERSION = "1.0.0"
