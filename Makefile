.PHONY: demo test chaos fuzz bench
demo:
	scripts/demo
test:
	scripts/test
# The long proofs: chaos scenarios at full size and the 20,000-message MQTT burst.
chaos:
	PORTHUB_CHAOS=long scripts/test tests/chaos tests/mqtt/test_burst.py -m "chaos or long"
# Property-based fuzzing at length: tests/fuzz with many more examples than the default run,
# random, keeping what fails in .hypothesis/ so that the next run tries it first.
fuzz:
	PORTHUB_FUZZ=long scripts/test tests/fuzz -m fuzz
# The whole benchmark suite at full size (bench/README.md); `scripts/bench PART` runs one part.
bench:
	scripts/bench
