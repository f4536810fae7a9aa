"""A record's impossible numbers: negative divergences, except where the tail's share was estimated from draws."""

from __future__ import annotations

from quantwb.record_values import value_problem


def test_a_negative_kld_is_refused_unless_the_tail_was_drawn() -> None:
    payload = {"kld": {"kld": {"mean": 0.01, "min": -0.01}}}
    assert value_problem(payload) == "kld.kld.min is -0.01 (cannot be negative)"
    payload["kld"]["kld"]["min"] = -1e-4  # the float16 base's rounding
    assert value_problem(payload) is None
    payload["kld"]["kld"]["min"] = -0.01
    payload["kld"]["topk"] = {"k": 256, "tail_draws": 32}
    assert value_problem(payload) is None
    payload["kld"]["topk"]["tail_draws"] = 0  # the older (K+1)-outcome records: a true KLD, never negative
    assert value_problem(payload) == "kld.kld.min is -0.01 (cannot be negative)"
    payload["kld"]["topk"]["tail_draws"] = 32
    payload["kld"]["kld"]["min"] = float("nan")
    assert value_problem(payload) == "kld.kld.min is nan (a measurement must be a finite number)"
