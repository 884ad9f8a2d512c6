.PHONY: demo test chaos bench
demo:
	scripts/demo
test:
	scripts/test
chaos:
	scripts/test tests/chaos -m chaos
bench:
	scripts/bench
