"""Load and latency benchmarks: the emulator direct and the gateway in front of it."""
