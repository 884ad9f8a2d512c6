.PHONY: demo test chaos bench
demo:
	scripts/demo
test:
	scripts/test
# The long proofs: chaos scenarios at full size and the 20,000-message MQTT burst.
chaos:
	PORTHUB_CHAOS=long scripts/test tests/chaos tests/mqtt/test_burst.py -m "chaos or long"
bench:
	scripts/bench
