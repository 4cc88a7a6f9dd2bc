"""CPU benchmarks of the project's speed levers; see benchmarks/README.md."""
