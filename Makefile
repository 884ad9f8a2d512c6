.PHONY: demo test chaos bench
demo:
	scripts/demo
test:
	scripts/test
chaos:
	PORTHUB_CHAOS=long scripts/test tests/chaos -m chaos
bench:
	scripts/bench
