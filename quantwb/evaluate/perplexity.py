"""Perplexity and llama.cpp's uncertainty estimates from per-position negative log-likelihoods (nats)."""

from __future__ import annotations

import math

import numpy as np

from quantwb.records import Perplexity


def mean_and_uncertainty(values: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error sqrt(var / (n-1)), as llama.cpp computes them (0 for n <= 10)."""
    count = len(values)
    if count < 1:
        return 0.0, 0.0
    mean = float(np.sum(values, dtype=np.float64) / count)
    variance = float(np.sum(np.square(values, dtype=np.float64)) / count) - mean * mean
    uncertainty = math.sqrt(variance / (count - 1)) if variance > 0 and count > 10 else 0.0
    return mean, uncertainty


def covariance_of_means(a: np.ndarray, b: np.ndarray) -> float:
    """Covariance of the means of two paired series, (E[ab] - E[a]E[b]) / (n-1); 0 for n < 10."""
    count = len(a)
    if count < 10:
        return 0.0
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float((np.dot(a64, b64) / count - a64.mean() * b64.mean()) / (count - 1))


def perplexity(nll_nats: np.ndarray) -> Perplexity:
    """exp(mean NLL) with uncertainty ppl * stderr(NLL)."""
    mean, unc = mean_and_uncertainty(nll_nats)
    ppl = math.exp(mean)
    return Perplexity(ppl=ppl, ppl_unc=ppl * unc, nll_mean_nats=mean)


def log_ppl_ratio(nll_nats: np.ndarray, base_nll_nats: np.ndarray) -> tuple[float, float]:
    """ln(PPL(variant)/PPL(base)) and its uncertainty, using the covariance of the paired NLL series."""
    mean, unc = mean_and_uncertainty(nll_nats)
    base_mean, base_unc = mean_and_uncertainty(base_nll_nats)
    cov = covariance_of_means(nll_nats, base_nll_nats)
    variance = unc * unc + base_unc * base_unc - 2.0 * cov
    return mean - base_mean, math.sqrt(max(variance, 0.0))
