"""The conformance harness: Hypothesis strategies for both contracts, exported for anyone.

The project's own property tests draw from these, so the harness is tested by being
used. Point them at another implementation to check it against the same rules:

    from contracts.testing.inference import invalid_payloads, valid_payloads

Needs Hypothesis (``pip install 'asm-trio[conformance]'``); nothing else in
``contracts`` does.
"""
