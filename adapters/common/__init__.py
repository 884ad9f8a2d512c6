"""What the built-in adapters share: atomic files, the submission shape, decoders for what a
legacy system emits, config helpers and the sample-config generator."""
