"""The bounded soak test (``make soak``): every fault mode under load, a kill -9 between."""
